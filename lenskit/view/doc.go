// Package view renders lenskit results for people: as HTML inside a GoNB
// notebook, as aligned text in a terminal, and as offline echarts heatmaps.
//
// Every result type becomes a [Renderable] (a value with String and HTML
// methods), and [Show] picks the form that fits where the program runs:
// [gonbui.DisplayHTML] under GoNB, String on stdout otherwise. The same value
// therefore works in a notebook cell, in the lenskit CLI and in a plain Go
// program.
//
// # Token forms
//
// Tokens are untrusted strings (a BPE vocabulary holds "<script>", quotes,
// control bytes, lone spaces), and the same entry has three forms, taken
// through the [Tokens] interface that *vocab.Vocab satisfies:
//
//	raw      "Ġdom"   the vocabulary entry
//	text     " dom"   decoded UTF-8
//	display  "dom"    the seed notebook's form: word-initial tokens bare,
//	         "#dom"   continuations prefixed with '#'
//
// Neuron tables use the display form, like the seed's tabulate output.
// Pair tables (W_OV, W_QK) use the [Visible] form of the text — the form the
// seed printed as Python tuples, but with whitespace made visible so that
// " dom" and "dom" cannot be confused in an aligned column: a space is
// shown as '·' (U+00B7), a tab as '⇥', a newline as '↵', a carriage return
// as '␍', and any other control character, invalid byte or literal '·' as a
// Go escape (\x15, \u00b7). The raw entry, the token id and the exact score
// are always in the HTML tooltip; [WithForm] picks another form.
//
// # HTML
//
// HTML output is self-contained: one <style> block whose rules are scoped
// to a class unique to that output (so several outputs on one notebook page
// never clash, even from different lenskit versions), and inline colours on
// shaded cells so the shading survives sanitizers that drop <style>. Every
// token is HTML-escaped. Long lists sit in a scrolling container.
//
// # Heatmaps and the echarts asset
//
// [Heatmap] builds its chart options with go-echarts and draws them with
// Apache ECharts 6.1.0, vendored from the npm registry into assets/ (see
// assets/update.sh, which re-fetches it; assets/LICENSE, assets/NOTICE and
// assets/LICENSE-d3 are its licences). The library is never loaded from a
// CDN: the 1,121,883-byte echarts.min.js is gzip-compressed (370,662 bytes)
// and inlined as base64 (494,216 bytes) in every chart's HTML — a small
// chart's HTML is about 497 KB, a 50 × 50 map with tooltips about 650 KB —
// and the browser inflates it with DecompressionStream and evaluates it at
// most once per page (a global promise guards it; later charts on the page
// wait on the same promise). Compressing costs a process 75–130 ms before
// its first chart (BenchmarkEChartsPayload). Inlining in every chart rather
// than once per program is deliberate: each GoNB cell runs as a new
// process, and a saved or exported notebook must draw any chart even when
// earlier outputs were cleared. The library is evaluated with its CommonJS
// branch, so a page that has RequireJS loaded (nbconvert's HTML export)
// does not trip over an anonymous define().
//
// Scripts in an output run when GoNB's HTML is inserted into a live
// notebook (Jupyter evaluates the <script> elements of an output it
// trusts, which includes every output of the running session), and in
// static HTML exports; each chart draws into an element with its own id,
// found by id rather than through document.currentScript, which is null
// for scripts a front end re-inserts. This was checked by running a
// notebook through the lenskit GoNB kernel with nbconvert --execute,
// exporting it with nbconvert --to html, and loading the export in
// headless Chromium. A notebook that Jupyter does not trust strips
// scripts; the chart element then shows the terminal form of the heatmap
// (for heatmaps up to 10,000 cells) instead of staying blank.
//
// # Progress
//
// [Progress] reports long work (corpus token lists, scans over many heads):
// an HTML bar updated in place under GoNB, a line redrawn with '\r' on a
// terminal, sparse lines when stderr is a file or a pipe.
package view
