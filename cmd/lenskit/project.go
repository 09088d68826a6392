package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/view"
	"lenskit.dev/lenskit/vocab"
)

// modelUsage is the help text of every command's --model flag.
const modelUsage = "hub id (owner/model[@rev]), local directory, tiny-pl-llama, or empty for the embedded tiny-pl-gpt2"

// common holds the flags every projection command takes.
type common struct {
	model      string
	k          int
	asJSON     bool
	ascii      bool
	alnum      bool
	noBrackets bool
	tokens     string
	corpus     multi
	top        int
	scores     bool
	engine     string
	foldNorms  bool
	foldFinal  bool
	center     bool
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func (c *common) register(fs *flag.FlagSet, defaultK int) {
	fs.StringVar(&c.model, "model", "", modelUsage)
	fs.IntVar(&c.k, "k", defaultK, "number of tokens or pairs")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON instead of a table")
	fs.BoolVar(&c.ascii, "ascii", false, "only tokens whose text is ASCII (the seed's only_ascii)")
	fs.BoolVar(&c.alnum, "alnum", false, "only tokens of letters and digits, any script")
	fs.BoolVar(&c.noBrackets, "no-brackets", false, "drop tokens containing brackets")
	fs.StringVar(&c.tokens, "tokens", "", "only tokens in this token list (written by 'lenskit tokens')")
	fs.Var(&c.corpus, "corpus", "only tokens seen in this text file (repeatable)")
	fs.IntVar(&c.top, "top", 0, "with --corpus: only the N most frequent tokens (0 = all seen)")
	fs.StringVar(&c.engine, "engine", "", "auto, cpu, gomlx or gomlx:BACKEND (default: $LENSKIT_ENGINE, else auto)")
	fs.BoolVar(&c.foldNorms, "fold-norms", false, "weight processing: fold each norm's gain into the matrices it feeds (W_Q, W_K, W_V, neuron keys)")
	fs.BoolVar(&c.foldFinal, "fold-final-norm", false, "weight processing: fold the final norm's gain into W_U")
	fs.BoolVar(&c.center, "center-unembed", false, "weight processing: centre W_U over the vocabulary")
}

// load loads the model with the chosen engine.
func (c *common) load() (*lenskit.Model, error) {
	var opts []lenskit.LoadOption
	if c.engine != "" {
		e, err := lenskit.Engine(c.engine)
		if err != nil {
			return nil, err
		}
		opts = append(opts, lenskit.WithEngine(e))
	}
	return lenskit.Load(c.model, opts...)
}

func (c *common) filters() ([]lenskit.Filter, error) {
	var fs []lenskit.Filter
	if c.ascii {
		fs = append(fs, lenskit.ASCII())
	}
	if c.alnum {
		fs = append(fs, lenskit.Alnum())
	}
	if c.noBrackets {
		fs = append(fs, lenskit.NoBrackets())
	}
	if c.tokens != "" {
		l, err := vocab.ReadTokenListFile(c.tokens)
		if err != nil {
			return nil, err
		}
		fs = append(fs, lenskit.InList(l))
	}
	if len(c.corpus) > 0 {
		fs = append(fs, lenskit.CorpusTokens(c.top, c.corpus...))
	} else if c.top != 0 {
		return nil, fmt.Errorf("%w: --top needs --corpus", errUsage)
	}
	if c.foldNorms {
		fs = append(fs, lenskit.FoldNorms())
	}
	if c.foldFinal {
		fs = append(fs, lenskit.FoldFinalNorm())
	}
	if c.center {
		fs = append(fs, lenskit.CenterUnembed())
	}
	return fs, nil
}

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func required(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return fmt.Errorf("%w: %s needs --%s", errUsage, fs.Name(), n)
		}
	}
	return nil
}

func runNeuron(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("neuron", flag.ContinueOnError)
	var c common
	c.register(fs, 30)
	layer := fs.Int("layer", 0, "layer of the neuron")
	index := fs.Int("index", 0, "index of the neuron within the layer's MLP")
	fs.BoolVar(&c.scores, "scores", false, "print scores next to tokens")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(fs, "layer", "index"); err != nil {
		return err
	}
	filters, err := c.filters()
	if err != nil {
		return err
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	defer m.Close()
	r := m.Lens(filters...).Neuron(*layer, *index).Top(c.k)
	if err := r.Err(); err != nil {
		return err
	}
	if c.scores && !c.asJSON {
		_, err := io.WriteString(stdout, r.Table(view.WithScores()).String())
		return err
	}
	return emit(stdout, r, c.asJSON)
}

func runHead(kind string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	var c common
	c.register(fs, 50)
	layer := fs.Int("layer", 0, "layer of the head")
	head := fs.Int("head", 0, "head index within the layer")
	bottom := fs.Bool("bottom", false, "most negative entries instead of largest")
	same := fs.Bool("exclude-same", false, "drop pairs of the same token (case and spaces ignored)")
	fuzzy := fs.Bool("exclude-fuzzy", false, "drop pairs of near-identical tokens (prefix ≥ 3 letters, or one edit for ≥ 4)")
	offset := 0
	if kind == "qk" {
		fs.IntVar(&offset, "offset", 0, "query–key offset δ = query position − key position (rotary models)")
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(fs, "layer", "head"); err != nil {
		return err
	}
	filters, err := c.filters()
	if err != nil {
		return err
	}
	if *same {
		filters = append(filters, lenskit.ExcludeSame())
	}
	if *fuzzy {
		filters = append(filters, lenskit.ExcludeFuzzy())
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	defer m.Close()
	lens := m.Lens(filters...)
	q := lens.OV(*layer, *head)
	if kind == "qk" {
		q = lens.QK(*layer, *head).At(offset)
	}
	r := q.Top(c.k)
	if *bottom {
		r = q.Bottom(c.k)
	}
	if err := r.Err(); err != nil {
		return err
	}
	return emit(stdout, r, c.asJSON)
}

func emit(w io.Writer, r interface {
	json.Marshaler
	fmt.Stringer
}, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := io.WriteString(w, r.String())
	return err
}

func runTokens(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	model := fs.String("model", "", "model whose tokenizer to use (default: the embedded tiny-pl-gpt2)")
	var corpus multi
	fs.Var(&corpus, "corpus", "text file, one record per line (repeatable)")
	top := fs.Int("top", 0, "keep only the N most frequent tokens (0 = all seen)")
	out := fs.String("o", "", "output file (default: standard output)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if len(corpus) == 0 {
		return fmt.Errorf("%w: tokens needs --corpus", errUsage)
	}
	m, err := lenskit.Load(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	l, err := m.CorpusTokens(*top, corpus...)
	if err != nil {
		return err
	}
	if *out == "" {
		return l.Save(stdout)
	}
	return l.WriteFile(*out)
}
