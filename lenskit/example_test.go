package lenskit_test

import (
	"fmt"

	"lenskit.dev/lenskit"
)

func Example() {
	m := lenskit.Open("") // the embedded tiny Polish GPT-2
	defer m.Close()
	lens := m.Lens(lenskit.Alnum())
	r := lens.Neuron(2, 345).Top(5)
	fmt.Println(r.Err())
	fmt.Println(len(r.Words(0)))
	// Output:
	// <nil>
	// 5
}
