module threadlab/email

go 1.19
