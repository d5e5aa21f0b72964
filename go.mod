module github.com/phxgo/phxgo

go 1.26.8

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/mailru/easygo v0.0.0-20190618140210-3c14a0dc985f // indirect
	github.com/modern-go/concurrent v0.0.0-20180228061459-e0a39a4cb421 // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
