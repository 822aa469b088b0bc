module github.com/classgate/classgate

go 1.26
