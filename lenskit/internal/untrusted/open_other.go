//go:build !unix

package untrusted

// oNonblock is 0 where the system has no such flag; Open's Stat before the
// open is the check there.
const oNonblock = 0
