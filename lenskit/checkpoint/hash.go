package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// HashTensors returns "sha256:" followed by the hex SHA-256 of the tensors,
// each hashed under the name it has in named (so that a caller can hash under
// canonical names, as the weights package does to make the hash independent
// of the "transformer." prefix).
//
// What is covered, in order of name (byte-wise sorted): for each tensor its
// name, its dtype, its shape and its stored bytes, each field preceded by its
// length as an 8-byte little-endian integer so that no two different inputs
// produce the same byte stream. Nothing about the file is covered — not the
// format (safetensors or pickle), sharding, file names, metadata or the
// order of tensors in the file — so the same tensors with the same dtypes
// hash the same wherever they are stored, and a conversion to another dtype
// changes the hash. Reading every byte of a 1.4 GB checkpoint takes about a
// second when it is in the page cache.
func HashTensors(named map[string]*Tensor) (string, error) {
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	var buf [8]byte
	field := func(b []byte) {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(b)))
		h.Write(buf[:])
		h.Write(b)
	}
	for _, n := range names {
		t := named[n]
		field([]byte(n))
		field([]byte(t.DType))
		shape := make([]byte, 8*len(t.Shape))
		for i, d := range t.Shape {
			binary.LittleEndian.PutUint64(shape[8*i:], uint64(d))
		}
		field(shape)
		field(t.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Hash returns HashTensors over every tensor of the checkpoint under its
// stored name, buffers included. It is computed on first use (reading every
// byte) and cached. The weights package offers a hash over the model's
// parameters only, under canonical names, which is the one to record in
// notes.
func (c *Checkpoint) Hash() (string, error) {
	c.hashOnce.Do(func() {
		c.hashErr = c.Guard(func() error {
			var err error
			c.hash, err = HashTensors(c.tensors)
			return err
		})
	})
	return c.hash, c.hashErr
}
