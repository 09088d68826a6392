package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/catalogue"
)

// TestSlurmExample runs docs/scan-slurm.sh with stand-ins for sbatch and
// lenskit that record their arguments: submitting makes the array and the
// dependent merge, each array task scans its own shard, the merge merges.
func TestSlurmExample(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, _ := filepath.Abs("../../docs/scan-slurm.sh")
	bin := t.TempDir()
	log := filepath.Join(bin, "calls")
	for _, name := range []string{"sbatch", "lenskit"} {
		stub := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\necho 4242\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(env []string, args ...string) {
		cmd := exec.Command(bash, append([]string{script}, args...)...)
		cmd.Env = append(append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "MODEL=owner/m", "OUT=/tmp/cat", "SHARDS=4"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run(nil)
	run([]string{"SLURM_ARRAY_TASK_ID=3"}, "shard")
	run(nil, "merge")
	b, _ := os.ReadFile(log)
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"sbatch --parsable --array=0-3 ",
		"sbatch --dependency=afterok:4242 ",
		"lenskit scan --model owner/m -o /tmp/cat --k 50 --alnum --shard 3/4",
		"lenskit scan merge -o /tmp/cat",
	}
	if len(calls) != len(want) {
		t.Fatalf("calls:\n%s", b)
	}
	for i, w := range want {
		if !strings.HasPrefix(calls[i], w) {
			t.Errorf("call %d: %q, want prefix %q", i, calls[i], w)
		}
	}
	// The shard spec the script builds is one the command accepts.
	if _, err := catalogue.ParseShard("3/4"); err != nil {
		t.Fatal(err)
	}
}
