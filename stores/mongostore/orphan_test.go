package mongostore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/hoardhttp/hoard/core"
)

// TestSweepReclaimsOrphans: the leftovers of a writer that died after
// committing a stream — a document holding only a stream (the value that
// the core writes next never came) and a GridFS file no document refers to
// (its document was removed but the file's deletion failed) — are removed by
// the sweep once they are older than orphanGrace, even without a deletion
// time; young ones, a stream with its value, and a file of the bucket that
// the store did not write are kept.
func TestSweepReclaimsOrphans(t *testing.T) {
	st, clk := newClockedStore(t, Options{SweepInterval: -1, ChunkSize: MinChunkSize})
	ctx := t.Context()
	body := make([]byte, 3*MinChunkSize+1)
	writeStream(t, st, "stream-only", body, core.Meta{})
	writeStream(t, st, "kept", body, core.Meta{})
	if err := st.Set(ctx, "kept", []byte("value"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	writeStream(t, st, "lost", body, core.Meta{})
	if _, err := st.entries.DeleteOne(ctx, bson.D{{Key: fID, Value: "lost"}}); err != nil {
		t.Fatal(err)
	}
	foreign := bson.NewObjectID()
	if _, err := st.files.InsertOne(ctx, bson.D{{Key: fID, Value: foreign}, {Key: "length", Value: int64(0)},
		{Key: "chunkSize", Value: int32(1024)}, {Key: "uploadDate", Value: clk.now().Add(-time.Hour)}, {Key: "filename", Value: "other.bin"}}); err != nil {
		t.Fatal(err)
	}
	files := func() int { return len(ids(t, st.files)) }
	if n := files(); n != 4 {
		t.Fatalf("%d GridFS files before the sweep, want 4", n)
	}

	clk.advance(orphanGrace - time.Minute)
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep within orphanGrace = %d, %v; want 0, nil", n, err)
	}
	if rc, _, err := st.OpenStream(ctx, "stream-only"); err != nil {
		t.Fatalf("OpenStream of a young stream without a value: %v", err)
	} else {
		rc.Close()
	}

	clk.advance(2 * time.Minute)
	n, err := st.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Sweep removed %d, want 2 (the stream-only document and the file without a document)", n)
	}
	if _, _, err := st.OpenStream(ctx, "stream-only"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream of an old stream without a value: %v, want core.ErrNotFound", err)
	}
	if got := ids(t, st.entries); !equal(got, []string{"kept"}) {
		t.Errorf("entries after the sweep = %q, want [kept]", got)
	}
	raw, err := st.entries.FindOne(ctx, bson.D{{Key: fID, Value: "kept"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	keptFile, _ := streamFile(raw)
	if got, want := ids(t, st.files), []string{keptFile.Hex(), foreign.Hex()}; !equal(got, sorted(want)) {
		t.Errorf("GridFS files after the sweep = %q, want %q (the live one and the foreign one)", got, sorted(want))
	}
	if n, err := st.chunks.CountDocuments(ctx, bson.D{{Key: "files_id", Value: bson.D{{Key: "$ne", Value: keptFile}}}}); err != nil || n != 0 {
		t.Errorf("%d chunks of removed files left behind (%v)", n, err)
	}
	if got, err := st.Get(ctx, "kept"); err != nil || string(got) != "value" {
		t.Errorf("Get(kept) = %q, %v", got, err)
	}
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestSweepReclaimsUnfinishedStreams: the chunks of a stream whose writer
// died before Commit (no files document) are removed by the sweep once the
// last of them is older than writerGrace; those of a writer still writing,
// however long its stream takes, are kept.
func TestSweepReclaimsUnfinishedStreams(t *testing.T) {
	st, clk := newClockedStore(t, Options{SweepInterval: -1, ChunkSize: MinChunkSize})
	ctx := t.Context()
	chunk := make([]byte, MinChunkSize)
	dead, err := st.CreateStream(ctx, "dead", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	live, err := st.CreateStream(ctx, "live", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, w := range []core.StreamWriter{dead, live} {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
	}
	chunksOf := func(w core.StreamWriter) int64 {
		n, err := st.chunks.CountDocuments(ctx, bson.D{{Key: "files_id", Value: w.(*streamWriter).id}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if chunksOf(dead) != 3 || chunksOf(live) != 3 {
		t.Fatalf("chunks written: %d and %d, want 3 each", chunksOf(dead), chunksOf(live))
	}
	// The dead writer stops; the live one writes a chunk every 50 minutes.
	for range 2 {
		clk.advance(50 * time.Minute)
		if _, err := live.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := chunksOf(dead); n != 0 {
		t.Errorf("%d chunks of a writer silent for 100 minutes are left; want them removed", n)
	}
	if n := chunksOf(live); n != 5 {
		t.Errorf("the live writer has %d chunks after the sweeps, want all 5", n)
	}
	if err := live.Commit(); err != nil {
		t.Fatal(err)
	}
	rc, size, err := st.OpenStream(ctx, "live")
	if err != nil || size != 5*MinChunkSize {
		t.Fatalf("OpenStream(live) = %d, %v", size, err)
	}
	rc.Close()
	_ = dead.Abort()
}
