package lenskit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/widgets"

	"lenskit.dev/lenskit/view"
)

// The explorer in a GoNB notebook.
//
// How GoNB runs it (read from GoNB v0.11.4's source and checked in the
// classic Notebook here): every cell is compiled into a program of its own
// and run by the kernel, which executes one cell at a time (execute
// requests queue) and routes the page's comm messages only to the program
// of the cell that is running; the named pipes between the kernel and a
// program close when it ends. So the explorer serves the page for as long
// as its cell runs — cells run meanwhile wait their turn — and nothing can
// keep serving after its cell ends: a program that left a child behind
// would get no more messages from the page. Ending the explorer is one
// click (Done), or the kernel's interrupt.
//
// Its output is a column of GoNB display blocks (gonbui.UpdateHTML), each
// replaced on its own: the controls (with the widgets, the filter
// switches and the page script), a status line, the model map, the table
// and heatmap, the label form and the search. The page script sends every
// click, switch and form entry to one comms address as JSON; the widgets
// (gonbui/widgets Select, Slider and Button) report on their own
// addresses. When it ends, every block is emptied and the last state is
// displayed as static HTML, which the saved notebook keeps.
//
// Where the kernel was not started by a notebook server (nbconvert
// --execute, where GoNB has no kernel id and so no page can connect), the
// explorer renders the static state at once. With a server but no page
// answering within ExploreWait, it does the same.

// gonbFront renders into GoNB display blocks and talks to the page.
type gonbFront struct {
	x      *explorer
	addr   string // comms address of the page's events
	events chan exploreEvent
	shown  map[string]string // block → the HTML it shows
	syncs  int               // selection messages sent
}

func (g *gonbFront) blockID(block string) string { return g.x.id + "-" + block }

// update replaces a block, unless it already shows html: every update
// costs the page a re-insertion (and the notebook a MathJax pass).
func (g *gonbFront) update(block, html string) {
	if g.shown[block] == html {
		return
	}
	g.shown[block] = html
	gonbui.UpdateHTML(g.blockID(block), html)
}

func (g *gonbFront) sync(s exploreSync) {
	g.syncs++
	msg := map[string]any{"head": s.Head, "neuron": s.Neuron, "index": strconv.Itoa(s.Index), "n": g.syncs}
	if s.Widgets != nil {
		msg["widgets"] = s.Widgets
	}
	b, _ := json.Marshal(msg) // strings and numbers: no error
	id, _ := json.Marshal("__lkxState_" + g.x.id)
	g.update(blockSync, fmt.Sprintf(`<script>(function(){var f=window[%s]; if(f) f(%s);})();</script>`, id, b))
}

// nullFront renders nowhere: the static state is drawn from the explorer's
// state at the end.
type nullFront struct{}

func (nullFront) update(string, string) {}
func (nullFront) sync(exploreSync)      {}

// runExplorer runs x where the program runs: a live notebook page, a
// notebook run without a page, or a terminal.
func runExplorer(x *explorer, out io.Writer) {
	if !gonbui.IsNotebook {
		x.front = nullFront{}
		runTerminal(x, out)
		return
	}
	if os.Getenv("GONB_JUPYTER_KERNEL_ID") == "" || gonbui.Error() != nil {
		x.front = nullFront{}
		x.handle()
		x.waitJob()
		view.Show(&Explorer{x: x})
		return
	}
	g := &gonbFront{x: x, addr: "/lenskit/explore/" + x.id, events: make(chan exploreEvent, 1024), shown: map[string]string{}}
	x.front = g
	g.run()
}

// exploreBlocks are the blocks in the order they appear.
var exploreBlocks = []string{blockControls, blockStatus, blockMap, blockResult, blockForm, blockSearch, blockSync}

func (g *gonbFront) run() {
	x := g.x
	// Interrupting the kernel ends the explorer like Done does; GoNB
	// kills the program 5 s after the interrupt, which is ample.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	page := comms.Listen[string](g.addr)
	go func() {
		for s := range page.C {
			var ev exploreEvent
			if err := json.Unmarshal([]byte(s), &ev); err != nil {
				ev = exploreEvent{Ev: "bad", Value: s}
			}
			g.events <- ev
		}
	}()
	g.update(blockControls, g.controlsHTML())
	g.update(blockStatus, fmt.Sprintf(`<div class="lkx tex2jax_ignore lkx-dim" data-lkx-status="%s" data-lkx-waiting="%s">lenskit explorer: waiting for the page…</div>`, x.id, x.id))
	for _, b := range exploreBlocks[2:] {
		g.update(b, "<div></div>")
	}

	// The page says hello once its script runs and GoNB's comms are up.
	// GoNB's page script gives the kernel 500 ms to acknowledge its
	// connection and gives up for good when that is late (a busy
	// machine, a kernel still building); asking GoNB to install it again
	// (comms.Start, a no-op while it works) every few seconds lets a later
	// attempt connect, and the page repeats its hello until answered.
	hello := time.NewTimer(x.wait)
	defer hello.Stop()
	retry := time.NewTicker(3 * time.Second)
	defer retry.Stop()
wait:
	for {
		select {
		case ev := <-g.events:
			if ev.Ev == "hello" {
				break wait
			}
		case <-retry.C:
			comms.Start()
		case <-hello.C:
			g.finish(fmt.Sprintf("no page answered within %v (no browser is showing this notebook)", x.wait))
			return
		case <-sigs:
			g.finish("interrupted")
			return
		}
	}
	if err := g.makeWidgets(); err != nil {
		g.finish(err.Error())
		return
	}

	x.handle()
	refresh := time.NewTicker(300 * time.Millisecond)
	defer refresh.Stop()
	pending := false
	for !x.isDone() {
		select {
		case ev := <-g.events:
			evs := []exploreEvent{ev}
		drain:
			for {
				select {
				case e := <-g.events:
					evs = append(evs, e)
				default:
					break drain
				}
			}
			x.handle(evs...)
		case <-x.ticks:
			pending = true
		case <-refresh.C:
			if pending {
				pending = false
				x.refresh()
			}
		case <-sigs:
			g.finish("interrupted")
			return
		}
	}
	g.finish("")
}

// finish ends the explorer: the background work stops, the live blocks are
// emptied (the widgets live in the controls block) and the last state is
// displayed for good.
func (g *gonbFront) finish(why string) {
	x := g.x
	x.stopJob()
	x.mu.Lock()
	x.done = true
	x.mu.Unlock()
	static := x.staticHTML()
	if why != "" {
		static = fmt.Sprintf(`<div class="lkx tex2jax_ignore lkx-dim" style="font-family:sans-serif;font-size:12px">explorer ended: %s</div>`, esc(why)) + static
	}
	for _, b := range exploreBlocks {
		g.update(b, "")
	}
	gonbui.DisplayHTML(static)
	gonbui.Sync()
}

// makeWidgets puts GoNB's widgets into the controls' slots. A widget's
// Done waits for the page to report its first value, so each is given a
// deadline: a page that went away must not hang the cell.
//
// The explorer reads the widgets' changes from its page script, not from
// the widgets' own addresses: GoNB hands each incoming message to a
// goroutine of its own, so two values of one slider can arrive in either
// order, and a widget keeps the comm object it was made with, which GoNB
// replaces when the page misses a heartbeat (seen here on a loaded
// machine) — after which the widget reports nothing. The page script
// numbers its messages and always sends through the current comm object.
func (g *gonbFront) makeWidgets() error {
	x := g.x
	a := x.m.Arch()
	x.mu.Lock()
	w := x.widgetValues(x.st)
	x.mu.Unlock()
	numbers := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.Itoa(i)
		}
		return s
	}
	var stats []string
	for _, s := range exploreStats {
		stats = append(stats, s.label)
	}
	slot := func(name string) string { return x.id + "-slot-" + name }
	type widget interface{ Address() string }
	build := func(name string, f func() widget) error {
		done := make(chan widget, 1)
		go func() { done <- f() }()
		select {
		case <-done:
			return nil
		case <-time.After(x.wait):
			return fmt.Errorf("the page did not show the %s widget within %v", name, x.wait)
		}
	}
	selects := []struct {
		name    string
		options []string
	}{
		{"view", exploreViews}, {"layer", numbers(a.Layers)}, {"head", numbers(a.Heads)},
		{"order", []string{"top", "bottom"}}, {"stat", stats},
	}
	for _, s := range selects {
		if err := build(s.name, func() widget {
			return widgets.Select(s.options).SetDefault(w[s.name]).AppendTo(slot(s.name)).Done()
		}); err != nil {
			return err
		}
	}
	if err := build("k", func() widget { return widgets.Slider(1, MaxExploreK, w["k"]).AppendTo(slot("k")).Done() }); err != nil {
		return err
	}
	if x.rotary {
		if err := build("offset", func() widget { return widgets.Slider(0, 64, w["offset"]).AppendTo(slot("offset")).Done() }); err != nil {
			return err
		}
	}
	if err := build("done", func() widget { return widgets.Button("Done").AppendTo(slot("done")).Done() }); err != nil {
		return err
	}
	return nil
}

// controlsHTML is the controls block: the explorer's style, the chart
// library for the heatmaps drawn later (view.ChartLoader), slots for the
// widgets, the filter switches, the neuron number field, and the page
// script.
func (g *gonbFront) controlsHTML() string {
	x := g.x
	a := x.m.Arch()
	x.mu.Lock()
	st := x.st.clone()
	x.mu.Unlock()
	slot := func(name, label string) string {
		return fmt.Sprintf(`<span style="margin-right:10px">%s<span id="%s-slot-%s" data-lkx-slot="%s"></span>%s</span>`,
			esc(label), x.id, name, name, map[bool]string{true: ` <span data-lkx-val="` + name + `"></span>`, false: ""}[name == "k" || name == "offset"])
	}
	var b strings.Builder
	b.WriteString(exploreCSS)
	b.WriteString(view.ChartLoader())
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-controls" data-lkx-controls="%s">`, x.id)
	fmt.Fprintf(&b, `<div class="lkx-row"><b>lenskit explorer</b> · %s <span class="lkx-dim">(%d layers × %d heads, %d neurons per layer)</span> %s</div>`,
		esc(x.m.ID()), a.Layers, a.Heads, a.DFF, slot("done", ""))
	b.WriteString(`<div class="lkx-row">`)
	b.WriteString(slot("view", "view "))
	b.WriteString(slot("layer", "layer "))
	b.WriteString(slot("head", "head "))
	fmt.Fprintf(&b, `<span style="margin-right:10px">neuron <input type="number" min="0" max="%d" value="%d" style="width:6em" data-lkx="%s" data-lkx-act="nindex"></span>`, a.DFF-1, st.Neuron, x.id)
	b.WriteString(slot("k", "k "))
	b.WriteString(slot("order", ""))
	if x.rotary {
		b.WriteString(slot("offset", "QK offset δ "))
	}
	b.WriteString(`</div><div class="lkx-row">filters: `)
	for i, t := range x.toggles {
		checked := ""
		if st.On[i] {
			checked = " checked"
		}
		fmt.Fprintf(&b, `<label style="margin-right:10px"><input type="checkbox" data-lkx="%s" data-lkx-act="toggle" data-lkx-name="%s"%s> %s</label>`, x.id, esc(t.key), checked, esc(t.label))
	}
	var fixed []string
	for _, f := range x.fixed {
		fixed = append(fixed, f.name)
	}
	if x.base != nil && x.base.f.proc.String() != "" {
		fixed = append(fixed, x.base.f.proc.String())
	}
	if len(fixed) > 0 {
		fmt.Fprintf(&b, `<span class="lkx-dim">always: %s</span>`, esc(strings.Join(fixed, ", ")))
	}
	b.WriteString(`</div><div class="lkx-row">`)
	b.WriteString(slot("stat", "map colour "))
	b.WriteString(`<span class="lkx-dim">click a head or a neuron cell to select it</span></div>`)
	b.WriteString(`<div class="lkx-row lkx-dim">This cell serves the explorer until you press Done (or interrupt the kernel); cells you run meanwhile wait for it. It then leaves its last state in the output.</div>`)
	b.WriteString(`</div>`)
	idJSON, _ := json.Marshal(x.id)
	addrJSON, _ := json.Marshal(g.addr)
	fmt.Fprintf(&b, "<script>%s</script>", strings.NewReplacer("$ID", string(idJSON), "$ADDR", string(addrJSON)).Replace(explorePageJS))
	return b.String()
}

// explorePageJS is the page script: it sends the explorer's events
// (widget changes, clicks on map cells and search hits, switches, the
// neuron field, the form and the search box) to GoNB's comms as JSON,
// numbered; applies the selection the explorer sends back (through its
// sync block, see gonbFront.sync) to the map's outlines, the neuron field
// and the widgets; and keeps Jupyter's keyboard shortcuts out of the
// explorer's text fields.
const explorePageJS = `(function(){
var id=$ID, addr=$ADDR, key="__lenskitExplorer_"+id, seq=0;
if (window[key]) return; window[key]=true;
function comm(){return globalThis.gonb_comm;}
function send(o){var c=comm(); if(!c){setTimeout(function(){send(o);},50); return;} if(!o.seq){seq++; o.seq=seq;} c.send(addr, JSON.stringify(o));}
function mine(el){return !!(el && el.getAttribute && el.getAttribute("data-lkx")===id);}
function controls(){return document.querySelector('[data-lkx-controls="'+id+'"]');}
function inControls(t){var c=controls(); return !!(c && t && c.contains(t));}
function field(f){var e=document.querySelector('[data-lkx="'+id+'"][data-lkx-field="'+f+'"]'); return e ? e.value : "";}
function slotOf(t){var s=t && t.closest ? t.closest("[data-lkx-slot]") : null; return s && inControls(s) ? s.getAttribute("data-lkx-slot") : "";}
document.addEventListener("click", function(e){
	var t=e.target && e.target.closest ? e.target.closest("[data-lkx-act]") : null;
	if(slotOf(e.target)==="done" && e.target.closest("button")){ send({ev:"done"}); return; }
	if(!mine(t)) return;
	var a=t.getAttribute("data-lkx-act"), d=t.dataset;
	if(a==="head") send({ev:"head", layer:d.l, index:d.i});
	else if(a==="neuron") send({ev:"neuron", layer:d.l, index:d.i});
	else if(a==="hit") send({ev:"hit", view:d.v, layer:d.l, index:d.i});
	else if(a==="save") send({ev:"save", id:field("id"), updated:field("updated"), label:field("label"), text:field("text"), tags:field("tags"), part:field("part")});
	else if(a==="edit") send({ev:"edit", id:d.id});
	else if(a==="new") send({ev:"new"});
	else if(a==="search") send({ev:"search", q:field("q")});
	else return;
	e.preventDefault();
});
function widgetChanged(e){
	var t=e.target, name=slotOf(t);
	if(!name || !/^(SELECT|INPUT)$/.test(t.tagName)) return;
	if(t.tagName==="SELECT" && e.type==="input") return;
	if(t.type==="range") showValue(t);
	send({ev:"widget", name:name, value:String(t.value)});
}
document.addEventListener("change", function(e){
	var t=e.target;
	if(slotOf(t)) return widgetChanged(e);
	if(!mine(t)) return;
	var a=t.getAttribute("data-lkx-act");
	if(a==="toggle") send({ev:"toggle", name:t.getAttribute("data-lkx-name"), on:t.checked});
	else if(a==="nindex") send({ev:"neuron", layer:"", index:String(t.value)});
});
document.addEventListener("input", widgetChanged);
function showValue(t){var s=t.closest("[data-lkx-slot]"); if(!s) return; var v=s.parentNode.querySelector('[data-lkx-val="'+s.getAttribute("data-lkx-slot")+'"]'); if(v) v.textContent=t.value;}
function ours(t){return t && t.closest && (mine(t) || inControls(t));}
document.addEventListener("keydown", function(e){
	var t=e.target; if(!ours(t) || !/^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
	e.stopPropagation();
	if(e.key==="Enter" && t.getAttribute("data-lkx-field")==="q"){e.preventDefault(); send({ev:"search", q:t.value});}
	if(e.key==="Enter" && t.getAttribute("data-lkx-act")==="nindex"){e.preventDefault(); send({ev:"neuron", layer:"", index:String(t.value)});}
}, true);
document.addEventListener("focusin", function(e){var km=window.Jupyter&&Jupyter.keyboard_manager; if(km && ours(e.target) && /^(INPUT|TEXTAREA)$/.test(e.target.tagName)) km.disable();});
document.addEventListener("focusout", function(e){var km=window.Jupyter&&Jupyter.keyboard_manager; if(km && ours(e.target)) km.enable();});
window["__lkxState_"+id]=function(s){
	document.querySelectorAll('td[data-lkx="'+id+'"]').forEach(function(td){
		var k=td.getAttribute("data-lkx-key"); td.classList.toggle("lk-sel", k===s.head || k===s.neuron);
	});
	var n=document.querySelector('[data-lkx="'+id+'"][data-lkx-act="nindex"]'); if(n && document.activeElement!==n) n.value=s.index;
	var c=controls(); if(!c) return;
	for(var w in (s.widgets||{})){
		var el=c.querySelector('[data-lkx-slot="'+w+'"] select, [data-lkx-slot="'+w+'"] input');
		if(el){ el.value=String(s.widgets[w]); el.setAttribute("value", el.value); }
	}
	c.querySelectorAll("input[type=range]").forEach(showValue);
};
function waiting(){return !!document.querySelector('[data-lkx-waiting="'+id+'"]');}
function start(){
	var c=comm(); if(!c){setTimeout(start,50); return;}
	send({ev:"hello"});
	setTimeout(function(){var c=controls(); if(c) c.querySelectorAll("input[type=range]").forEach(showValue);}, 1000);
	// Until the explorer answers (its "waiting for the page" status goes),
	// say hello again: GoNB's connection may have failed and been made anew.
	setTimeout(function(){ if(waiting()) start(); }, 2000);
}
start();
})();`
