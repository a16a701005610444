module github.com/hoardhttp/hoard/codecs/yamlcodec

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/maypok86/otter/v2 v2.4.0 // indirect

replace github.com/hoardhttp/hoard => ../..
