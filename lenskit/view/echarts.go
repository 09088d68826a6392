package view

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
)

// The ECharts build is vendored from the npm registry by assets/update.sh;
// assets/echarts.min.js.sha256 records the checksum of what npm delivered.
//
//go:embed assets/echarts.min.js assets/VERSION assets/echarts.min.js.sha256
var assets embed.FS

// EChartsVersion is the version of the vendored Apache ECharts library.
var EChartsVersion = strings.TrimSpace(mustAsset("assets/VERSION"))

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		// The files are embedded at compile time; a missing one is a
		// build error, not a runtime condition.
		panic("view: embedded asset " + name + " missing: " + err.Error())
	}
	return string(b)
}

// echartsJS returns the vendored echarts.min.js.
func echartsJS() []byte {
	b, _ := assets.ReadFile("assets/echarts.min.js")
	return b
}

// verifyAsset checks the embedded library against the checksum recorded
// when it was fetched, so a corrupted or hand-edited copy is caught by the
// tests rather than by a blank chart.
func verifyAsset() (got, want string) {
	sum := sha256.Sum256(echartsJS())
	want, _, _ = strings.Cut(mustAsset("assets/echarts.min.js.sha256"), " ")
	return hex.EncodeToString(sum[:]), want
}

var (
	payloadOnce sync.Once
	payloadB64  string
)

// echartsPayload is echarts.min.js gzip-compressed and base64-encoded,
// computed once per process (see BenchmarkEChartsPayload for its cost).
func echartsPayload() string {
	payloadOnce.Do(func() { payloadB64 = compressPayload(echartsJS()) })
	return payloadB64
}

func compressPayload(js []byte) string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid: no error
	zw.Write(js)                                             // writes to a bytes.Buffer do not fail
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// echartsGlobal is the page-wide name of the promise that resolves to the
// echarts module; the version is part of it so two lenskit versions on one
// page each get the library they were built with.
func echartsGlobal() string {
	return "__lenskitECharts_" + strings.NewReplacer(".", "_", "-", "_").Replace(EChartsVersion)
}

// loaderJS defines window[echartsGlobal()] unless an earlier output on the
// page already did. The library is inflated with the browser's
// DecompressionStream and evaluated with its CommonJS branch (exports and
// module passed in, define hidden), which sets no globals and works whether
// or not the page has RequireJS.
func loaderJS() string {
	return `(function(w){var k="` + echartsGlobal() + `";if(w[k])return;` +
		`w[k]=(async function(){` +
		`if(typeof DecompressionStream==="undefined")throw new Error("this browser has no DecompressionStream");` +
		`var b=atob("` + echartsPayload() + `"),u=new Uint8Array(b.length);` +
		`for(var i=0;i<b.length;i++)u[i]=b.charCodeAt(i);` +
		`var src=await new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream("gzip"))).text();` +
		`var m={exports:{}};(new Function("exports","module","define",src))(m.exports,m,undefined);` +
		`return m.exports;})();})(window);`
}
