package vocab_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"lenskit.dev/lenskit/vocab"
)

// tinyModel finds the tiny Polish GPT-2 in shared/, beside the repository.
func tinyModel() string {
	for _, d := range []string{os.Getenv("LENSKIT_SHARED"), "../../../shared", "/work/shared"} {
		p := filepath.Join(d, "models/tiny-pl-gpt2")
		if _, err := os.Stat(p); d != "" && err == nil {
			return p
		}
	}
	return "shared/models/tiny-pl-gpt2 not found"
}

func ExampleVocab_Display() {
	v, err := vocab.Load(os.DirFS(tinyModel()))
	if err != nil {
		log.Fatal(err)
	}
	ids, _ := v.Encode("Przyjść do domu")
	for _, id := range ids {
		fmt.Printf("%-6q %-6q %s\n", v.Raw(id), v.Text(id), v.Display(id))
	}
	// Output:
	// "Przy" "Przy" #Przy
	// "j"    "j"    #j
	// "ÅĽÄĩ" "ść"   #ść
	// "Ġdo"  " do"  do
	// "Ġdomu" " domu" domu
}

func ExampleVocab_Encode() {
	v, err := vocab.LoadDir(tinyModel())
	if err != nil {
		log.Fatal(err)
	}
	ids, err := v.Encode("zażółć gęślą jaźń")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ids)
	fmt.Println(v.Decode(ids))
	// Output:
	// [530 281 1049 299 367 273 734 271 384 545 412]
	// zażółć gęślą jaźń
}

// A token can be half of a UTF-8 character; Text shows the lone byte as an
// escape, Bytes gives it exactly.
func ExampleVocab_Text() {
	v, err := vocab.LoadDir(tinyModel())
	if err != nil {
		log.Fatal(err)
	}
	id, _ := v.ID("Å") // the first byte of "ł", "ś", "ź", "ż", ...
	fmt.Printf("%q %q % x\n", v.Text(id), v.Display(id), v.Bytes(id))
	// Output:
	// "<0xC5>" "#<0xC5>" c5
}

func ExampleVocab_Select() {
	v, err := vocab.LoadDir(tinyModel())
	if err != nil {
		log.Fatal(err)
	}
	words := vocab.And(vocab.Alnum(), vocab.Not(vocab.ASCII()))
	ids := v.Select(words)
	fmt.Println(words, len(ids) > 1000)
	var some []string
	for _, id := range ids[:5] {
		some = append(some, v.Display(id))
	}
	fmt.Println(strings.Join(some, " "))
	// Output:
	// alnum+not(ascii) true
	// #ł #ą #ę #ż #ś
}

func ExampleFuzzyEqual() {
	v, err := vocab.LoadDir(tinyModel())
	if err != nil {
		log.Fatal(err)
	}
	pairs := vocab.AnyPair(vocab.SameToken(), vocab.FuzzyEqual())
	id := func(raw string) int { i, _ := v.ID(raw); return i }
	for _, p := range [][2]string{{"Ġdom", "Ġdomu"}, {"Ġprzy", "przy"}, {"Ġdo", "Ġdomu"}} {
		a, b := id(p[0]), id(p[1])
		fmt.Printf("%s %s: %v\n", v.Display(a), v.Display(b), pairs.Exclude(v, a, b))
	}
	fmt.Println(pairs)
	// Output:
	// dom domu: true
	// przy #przy: true
	// do domu: false
	// exclude-same+exclude-fuzzy
}

func ExampleCorpusTokens() {
	v, err := vocab.LoadDir(tinyModel())
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "corpus")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pl.txt")
	os.WriteFile(path, []byte("Nie można otworzyć pliku.\nPlik nie jest zapisany.\n\nnie\n"), 0o644)
	l, err := vocab.CorpusTokens(v, []string{path}, 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l, l.Records(), l.Count("nie"), l.Contains(" Nie"), l.Contains("pies"))
	if err := l.Save(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// list(pl.txt) 4 3 true false
	// # lenskit token list v1
	// name "pl.txt"
	// top 0
	// records 4
	// 3	"nie"
	// 2	"."
	// 1	"any"
	// 1	"jest"
	// 1	"można"
	// 1	"otworzyć"
	// 1	"plik"
	// 1	"pliku"
	// 1	"zapis"
}
