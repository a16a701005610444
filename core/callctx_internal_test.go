package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

// TestCallContext: a store call's context answers as
// context.WithDeadline(parent, deadline) with a deferred cancel would, whether
// or not Done was asked for, and in either order.
func TestCallContext(t *testing.T) {
	tests := []struct {
		name      string
		d         time.Duration
		parentDL  time.Duration // 0: the parent has no deadline
		cancelPar bool
		finish    bool
		wait      time.Duration // before the checks
		done      bool          // ask for Done before the checks
		wantErr   error
		wantDL    time.Duration // expected deadline, from now, ±tolerance
	}{
		{name: "live", d: time.Hour, wantDL: time.Hour},
		{name: "live, Done asked", d: time.Hour, done: true, wantDL: time.Hour},
		{name: "parent deadline earlier", d: time.Hour, parentDL: time.Minute, wantDL: time.Minute},
		{name: "own deadline earlier", d: time.Minute, parentDL: time.Hour, wantDL: time.Minute},
		{name: "expired", d: time.Millisecond, wait: 5 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "expired, Done asked", d: time.Millisecond, wait: 5 * time.Millisecond, done: true, wantErr: context.DeadlineExceeded},
		{name: "parent cancelled", d: time.Hour, cancelPar: true, wantErr: context.Canceled},
		{name: "parent cancelled, Done asked", d: time.Hour, cancelPar: true, done: true, wantErr: context.Canceled},
		{name: "finished", d: time.Hour, finish: true, wantErr: context.Canceled},
		{name: "finished, Done asked", d: time.Hour, finish: true, done: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			defer cancel()
			if tt.parentDL > 0 {
				var c2 context.CancelFunc
				parent, c2 = context.WithTimeout(parent, tt.parentDL)
				defer c2()
			}
			cc := newCallContext(parent, tt.d)
			if tt.cancelPar {
				cancel()
			}
			if tt.finish {
				cc.finish()
			}
			time.Sleep(tt.wait)
			if tt.done {
				cc.Done()
			}
			if err := cc.Err(); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Err = %v, want %v", err, tt.wantErr)
			}
			select {
			case <-cc.Done():
				if tt.wantErr == nil {
					t.Error("Done is closed on a live context")
				}
			default:
				if tt.wantErr != nil {
					t.Error("Done is open on an ended context")
				}
			}
			if err := cc.Err(); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Err after Done = %v, want %v", err, tt.wantErr)
			}
			if c := context.Cause(cc); !errors.Is(c, tt.wantErr) || (c == nil) != (tt.wantErr == nil) {
				t.Errorf("Cause = %v, want %v", c, tt.wantErr)
			}
			if v := cc.Value(ctxKey{}); v != "v" {
				t.Errorf("Value = %v, want the parent's", v)
			}
			if tt.wantDL > 0 {
				dl, ok := cc.Deadline()
				if got := time.Until(dl); !ok || got > tt.wantDL || got < tt.wantDL-time.Second {
					t.Errorf("Deadline in %v (ok=%v), want about %v", got, ok, tt.wantDL)
				}
			}
			cc.finish()
			if !errors.Is(cc.Err(), context.Canceled) && !errors.Is(cc.Err(), context.DeadlineExceeded) {
				t.Errorf("Err after finish = %v, want it ended", cc.Err())
			}
		})
	}
}

// TestCallContextDeadlineFires: a store waiting on Done is released at the
// call's deadline, and contexts derived from it end with it.
func TestCallContextDeadlineFires(t *testing.T) {
	cc := newCallContext(context.Background(), 20*time.Millisecond)
	defer cc.finish()
	child, cancel := context.WithCancel(cc)
	defer cancel()
	released := make(chan struct{})
	stop := context.AfterFunc(cc, func() { close(released) })
	defer stop()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the call's was not cancelled at its deadline")
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(child), context.DeadlineExceeded) {
		t.Errorf("child Err %v, Cause %v; want DeadlineExceeded", child.Err(), context.Cause(child))
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run at the deadline")
	}
}

// TestCallContextConcurrent: Err, Done, Value and finish race safely (run
// with -race) and agree at the end.
func TestCallContextConcurrent(t *testing.T) {
	for range 50 {
		cc := newCallContext(context.Background(), time.Hour)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i {
				case 0:
					_ = cc.Err()
				case 1:
					<-cc.Done()
				case 2:
					_ = cc.Value(ctxKey{})
				case 3:
					cc.finish()
				}
			}()
		}
		wg.Wait()
		if !errors.Is(cc.Err(), context.Canceled) {
			t.Fatalf("Err = %v after finish, want Canceled", cc.Err())
		}
	}
}

// TestStoreCallContextAllocs: a bounded store call to a store that only
// checks Err costs one allocation for its context, not a cancelable
// context and its timer.
func TestStoreCallContextAllocs(t *testing.T) {
	c, err := New(newMapStore(), WithStoreTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	fn := func(ctx context.Context) error { return ctx.Err() }
	n := minAllocs(func() {
		if err := c.call(ctx, "get", "k", onRequest, fn); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("%v allocations per bounded store call, want at most 1", n)
	}
}
