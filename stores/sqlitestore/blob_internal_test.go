package sqlitestore

import (
	"bytes"
	"database/sql"
	"testing"
)

// TestBlobKeepsDriverBytes checks the property of the driver that lets Get
// keep the slice a blob scans without copying it: every read of a BLOB
// gives a slice of its own, which later reads on the same connection and
// statement (and closing the rows) leave untouched. A driver upgrade that
// starts reusing buffers fails here.
func TestBlobKeepsDriverBytes(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: the reads share its buffers, if any
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	one, two := bytes.Repeat([]byte{1}, 64<<10), bytes.Repeat([]byte{2}, 64<<10)
	if _, err := db.Exec(`INSERT INTO t VALUES (1, ?), (2, ?)`, one, two); err != nil {
		t.Fatal(err)
	}
	stmt, err := db.Prepare(`SELECT v FROM t WHERE k = ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	read := func(k int) blob {
		t.Helper()
		var b blob
		if err := stmt.QueryRow(k).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := read(1)
	b := read(2)
	c := read(1)
	if !bytes.Equal(a, one) || !bytes.Equal(b, two) || !bytes.Equal(c, one) {
		t.Fatal("a blob read earlier changed after later reads on the same statement")
	}
	if &a[0] == &b[0] || &a[0] == &c[0] {
		t.Fatal("two reads returned the same memory: the driver reuses its buffer")
	}
	// The rows of a Query, read one after the other, too.
	rows, err := db.Query(`SELECT v FROM t ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	var got []blob
	for rows.Next() {
		var v blob
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], one) || !bytes.Equal(got[1], two) {
		t.Fatal("the first row's blob changed when the second was read")
	}
}

func TestBlobScan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     any
		want    []byte
		wantErr bool
	}{
		{name: "NULL", src: nil, want: nil},
		{name: "bytes", src: []byte("abc"), want: []byte("abc")},
		{name: "empty bytes", src: []byte{}, want: []byte{}},
		{name: "text", src: "abc", want: []byte("abc")},
		{name: "integer", src: int64(1), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := blob("previous")
			err := b.Scan(tc.src)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Scan(%v) succeeded, want an error", tc.src)
				}
				return
			}
			if err != nil || !bytes.Equal(b, tc.want) || (b == nil) != (tc.want == nil) {
				t.Fatalf("Scan(%v) = %q, %v; want %q", tc.src, b, err, tc.want)
			}
			if src, ok := tc.src.([]byte); ok && len(src) > 0 && &b[0] != &src[0] {
				t.Error("Scan copied the driver's bytes; it should keep them")
			}
		})
	}
}
