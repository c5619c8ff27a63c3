module threadlab/micro

go 1.19
