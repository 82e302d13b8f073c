module webpeft

go 1.26

require github.com/cogentcore/webgpu v0.23.0
