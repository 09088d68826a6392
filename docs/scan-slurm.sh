#!/bin/bash
# A model's catalogue (lenskit scan) as a Slurm job array: each array task
# computes one shard — a contiguous range of layers — into one shared
# directory, and a dependent job merges the parts into the four tables.
# Edit the variables below, then submit this script itself:
#
#   sbatch docs/scan-slurm.sh
#
# It resubmits itself as the array (mode "shard") and as the merge job
# (mode "merge", after every shard has succeeded). A shard that is killed —
# time limit, preemption, a node failure — leaves its finished layers in
# place; resubmitting the array (or just that task) computes only the
# layers still missing, and any part that was damaged is reported and
# recomputed. Merging refuses while a layer is missing or corrupt.
#
#SBATCH --job-name=lenskit-scan
#SBATCH --cpus-per-task=16
#SBATCH --mem=64G
#SBATCH --time=12:00:00
#SBATCH --output=lenskit-scan-%A_%a.log

set -euo pipefail

MODEL="${MODEL:-meta-llama/Llama-3.1-70B}"     # hub id (owner/model[@revision]) or a directory
OUT="${OUT:-/shared/catalogues/llama-3.1-70b}"  # on a file system every node sees
SHARDS="${SHARDS:-80}"                          # one layer per task for an 80-layer model
K="${K:-50}"                                    # pairs per head view and side, tokens per neuron column
FILTERS="${FILTERS:---alnum}"                   # any filter of `lenskit ov`, e.g. "--alnum --exclude-same"
LENSKIT="${LENSKIT:-lenskit}"                   # the binary (go install ./cmd/lenskit)
# Every task reads the same weights: point the Hugging Face cache at shared
# storage and download once before submitting (or set HF_HUB_OFFLINE=1).
export HF_HOME="${HF_HOME:-/shared/hf}"

mode="${1:-submit}"
case "$mode" in
submit)
	array=$(sbatch --parsable --array=0-$((SHARDS - 1)) \
		--export=ALL,MODEL="$MODEL",OUT="$OUT",SHARDS="$SHARDS",K="$K",FILTERS="$FILTERS" "$0" shard)
	sbatch --dependency=afterok:"$array" --cpus-per-task=2 --mem=8G --time=2:00:00 \
		--export=ALL,OUT="$OUT" "$0" merge
	echo "submitted shards (job $array) and the merge after them"
	;;
shard)
	# SLURM_ARRAY_TASK_ID counts from 0, like --shard.
	# shellcheck disable=SC2086 # FILTERS is a list of flags
	"$LENSKIT" scan --model "$MODEL" -o "$OUT" --k "$K" $FILTERS --shard "$SLURM_ARRAY_TASK_ID/$SHARDS"
	;;
merge)
	"$LENSKIT" scan merge -o "$OUT"
	;;
*)
	echo "usage: $0 [submit|shard|merge]" >&2
	exit 2
	;;
esac
