//go:build unix

package filestore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

const (
	helperEnv     = "FILESTORE_CRASH_HELPER_DIR"
	crashValueKey = "GET https://example.com/large-value"
	crashStream   = "GET https://example.com/large-stream"
	crashValueLen = 4 << 20
	crashStreamV1 = 1 << 20
)

// crashValue is version i of the large value: every 8-byte word holds i and
// its offset, so a reader can tell a whole version from a mix or a part.
func crashValue(i uint64) []byte {
	b := make([]byte, crashValueLen)
	for off := 0; off < len(b); off += 8 {
		binary.LittleEndian.PutUint64(b[off:], i<<32|uint64(off))
	}
	return b
}

// checkCrashValue reports whether b is a whole crashValue.
func checkCrashValue(b []byte) error {
	if len(b) != crashValueLen {
		return fmt.Errorf("%d bytes, want %d", len(b), crashValueLen)
	}
	i := binary.LittleEndian.Uint64(b) >> 32
	if !bytes.Equal(b, crashValue(i)) {
		return fmt.Errorf("not a whole version %d", i)
	}
	return nil
}

// TestHelperProcess is not a test: TestCrashSafety runs the test binary
// again with only this test and helperEnv set. It commits a first stream,
// then writes the large value over and over in one goroutine while it
// writes a second, larger stream in another; after the first 1 MiB of that
// stream and a first value it says "progress" on stdout and stops writing
// the stream, until it is killed. It exits by itself when stdin closes, or
// after a bounded number of writes.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	ctx := context.Background()
	s, err := filestore.New(dir, &filestore.Options{SweepInterval: -1})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	w, err := s.CreateStream(ctx, crashStream, core.Meta{})
	if err == nil {
		_, err = w.Write(bytes.Repeat([]byte("1"), crashStreamV1))
	}
	if err == nil {
		err = w.Commit()
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	valueWritten := make(chan struct{})
	go func() {
		for i := uint64(1); i < 1000; i++ {
			if err := s.Set(ctx, crashValueKey, crashValue(i), core.Meta{}); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
			if i == 1 {
				close(valueWritten)
			}
		}
	}()
	w, err = s.CreateStream(ctx, crashStream, core.Meta{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	chunk := bytes.Repeat([]byte("2"), 64<<10)
	for range 16 {
		if _, err := w.Write(chunk); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
	}
	<-valueWritten
	fmt.Println("progress")
	// Wait to be killed, with the second stream half written.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// TestCrashSafety kills a writer with SIGKILL in the middle of writing a
// large value and a large stream, then opens the directory again: it opens,
// the value is a whole version or absent, the stream is the committed one,
// and no temporary file is left.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			runCrashingWriter(t, dir)

			var temps int
			for rel := range walkFiles(t, dir) {
				if strings.Contains(rel, ".tmp-") {
					temps++
				}
			}
			if temps == 0 {
				t.Error("no temporary file after the kill: the stream was not being written")
			}

			s := newStore(t, dir, &filestore.Options{SweepInterval: -1})
			ctx := t.Context()
			got, err := s.Get(ctx, crashValueKey)
			switch {
			case errors.Is(err, core.ErrNotFound):
				t.Log("the value is absent")
			case err != nil:
				t.Errorf("Get of the value written when killed: %v", err)
			default:
				if err := checkCrashValue(got); err != nil {
					t.Errorf("Get of the value written when killed: %v", err)
				}
				t.Logf("the value is version %d", binary.LittleEndian.Uint64(got)>>32)
			}
			if got := readStream(t, s, crashStream); !bytes.Equal(got, bytes.Repeat([]byte("1"), crashStreamV1)) {
				t.Errorf("the stream is %d bytes, not the committed first one", len(got))
			}
			for rel := range walkFiles(t, dir) {
				if strings.Contains(rel, ".tmp-") {
					t.Errorf("temporary file %s left after New", rel)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// runCrashingWriter runs TestHelperProcess on dir and kills it with SIGKILL
// once it reports progress.
func runCrashingWriter(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	progressed := false
	for !progressed {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatal("the helper exited before reporting progress")
			}
			if strings.HasPrefix(line, "error:") {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("helper: %s", line)
			}
			progressed = line == "progress"
		case <-timeout.C:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("the helper did not report progress within 60s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper ended with %v, want killed by SIGKILL", err)
	}
	for range lines { // drain
	}
}
