module thaw.example/go-hello

go 1.19
