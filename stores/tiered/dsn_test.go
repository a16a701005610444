package tiered_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/tiered"
)

func TestOpenStoreDSN(t *testing.T) {
	dir := t.TempDir()
	fileDSN := url.QueryEscape("file://" + dir + "?max_bytes=1MiB")
	tests := []struct {
		dsn        string
		wantErr    string
		wantStream bool
		wantAge    time.Duration
	}{
		{dsn: "tiered://?l2=mem://", wantAge: tiered.DefaultMaxL1Age},
		{dsn: "tiered://?l1=" + url.QueryEscape("mem://?max_bytes=1MiB") + "&l2=" + fileDSN + "&max_l1_age=250ms", wantStream: true, wantAge: 250 * time.Millisecond},
		{dsn: "tiered://?l2=" + fileDSN + "&max_l1_age=0", wantStream: true, wantAge: tiered.DefaultMaxL1Age},
		{dsn: "tiered://?l1=mem://", wantErr: "parameter l2"},
		{dsn: "tiered://host?l2=mem://", wantErr: "nothing before"},
		{dsn: "tiered:///path?l2=mem://", wantErr: "nothing before"},
		{dsn: "tiered://?l2=mem://&bogus=1", wantErr: `unknown parameter "bogus"`},
		{dsn: "tiered://?l2=mem://&max_l1_age=soon", wantErr: "max_l1_age"},
		{dsn: "tiered://?l2=mem://&max_l1_age=-1s", wantErr: "max_l1_age"},
		{dsn: "tiered://?l2=nosuch://", wantErr: "opening L2"},
		{dsn: "tiered://?l1=nosuch://&l2=mem://", wantErr: "opening L1"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			st, err := core.OpenStore(context.Background(), tc.dsn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, core.ErrInvalidConfig) {
					t.Fatalf("OpenStore error = %v, want core.ErrInvalidConfig containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.(io.Closer).Close()
			if _, ok := st.(core.Streamer); ok != tc.wantStream {
				t.Errorf("%T: Streamer %v, want %v", st, ok, tc.wantStream)
			}
			if got := st.(interface{ MaxL1Age() time.Duration }).MaxL1Age(); got != tc.wantAge {
				t.Errorf("MaxL1Age = %v, want %v", got, tc.wantAge)
			}
			if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if v, err := st.Get(t.Context(), "k"); err != nil || string(v) != "v" {
				t.Errorf("Get = %q, %v; want v", v, err)
			}
		})
	}
	if !strings.Contains(strings.Join(core.RegisteredSchemes(), " "), tiered.Scheme) {
		t.Errorf("registered schemes %v lack %q", core.RegisteredSchemes(), tiered.Scheme)
	}
}
