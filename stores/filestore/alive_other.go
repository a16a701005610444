//go:build !unix

package filestore

// processAlive cannot tell on this platform and says yes: temporary files of
// other processes are then removed only once older than tempMaxAge.
func processAlive(pid int) bool { return true }
