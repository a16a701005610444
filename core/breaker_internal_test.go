package core

import (
	"testing"
	"time"
)

// fakeClock is a settable clock for the breaker's state machine.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestBreakerStateMachine drives the breaker through sequences of events
// with an injected clock and checks the state, the transitions it reports
// and its counters after each step.
func TestBreakerStateMachine(t *testing.T) {
	type step struct {
		ev    string        // "ok", "fail", "allow", "probe-ok", "probe-fail", "wait"
		d     time.Duration // for "wait"
		state BreakerState  // the state after the step
		allow bool          // for "allow": whether the call may go ahead
		probe bool          // for "allow": whether this caller must probe
		to    string        // the transition reported ("" for none)
	}
	s := BreakerSettings{Failures: 3, Backoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond}
	tests := []struct {
		name  string
		cfg   BreakerSettings
		steps []step
	}{
		{"successes reset the count", s, []step{
			{ev: "fail", state: BreakerClosed}, {ev: "fail", state: BreakerClosed},
			{ev: "ok", state: BreakerClosed},
			{ev: "fail", state: BreakerClosed}, {ev: "fail", state: BreakerClosed},
			{ev: "allow", state: BreakerClosed, allow: true},
		}},
		{"a run of failures opens it", s, []step{
			{ev: "fail", state: BreakerClosed}, {ev: "fail", state: BreakerClosed},
			{ev: "fail", state: BreakerOpen, to: "open"},
			{ev: "allow", state: BreakerOpen},
			{ev: "fail", state: BreakerOpen}, // a call admitted before it opened
			{ev: "ok", state: BreakerOpen},   // likewise: only the probe decides
		}},
		{"the jittered backoff is at least half the backoff", s, []step{
			{ev: "fail"}, {ev: "fail"}, {ev: "fail", state: BreakerOpen, to: "open"},
			{ev: "wait", d: 49 * time.Millisecond, state: BreakerOpen},
			{ev: "allow", state: BreakerOpen},
			{ev: "wait", d: 51 * time.Millisecond, state: BreakerOpen},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
		}},
		{"one probe at a time, success closes", s, []step{
			{ev: "fail"}, {ev: "fail"}, {ev: "fail", state: BreakerOpen, to: "open"},
			{ev: "wait", d: 100 * time.Millisecond, state: BreakerOpen},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
			{ev: "allow", state: BreakerHalfOpen}, // no second probe
			{ev: "probe-ok", state: BreakerClosed, to: "closed"},
			{ev: "allow", state: BreakerClosed, allow: true},
			{ev: "fail"}, {ev: "fail", state: BreakerClosed}, // the count restarted
		}},
		{"a failed probe doubles the backoff up to the cap", s, []step{
			{ev: "fail"}, {ev: "fail"}, {ev: "fail", state: BreakerOpen, to: "open"},
			{ev: "wait", d: 100 * time.Millisecond},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
			{ev: "probe-fail", state: BreakerOpen, to: "open"}, // now 200ms, at least 100
			{ev: "wait", d: 99 * time.Millisecond, state: BreakerOpen},
			{ev: "allow", state: BreakerOpen},
			{ev: "wait", d: 101 * time.Millisecond},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
			{ev: "probe-fail", state: BreakerOpen, to: "open"}, // 400ms
			{ev: "wait", d: 400 * time.Millisecond},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
			{ev: "probe-fail", state: BreakerOpen, to: "open"}, // capped at 400ms
			{ev: "wait", d: 399 * time.Millisecond},            // jitter is 0.999: the whole backoff
			{ev: "allow", state: BreakerOpen},
			{ev: "wait", d: time.Millisecond},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
			{ev: "probe-ok", state: BreakerClosed, to: "closed"},
		}},
		{"disabled never opens", BreakerSettings{Disabled: true, Failures: 1}, []step{
			{ev: "fail"}, {ev: "fail"}, {ev: "fail"},
			{ev: "allow", state: BreakerClosed, allow: true},
		}},
		{"defaults: five failures", BreakerSettings{}, []step{
			{ev: "fail"}, {ev: "fail"}, {ev: "fail"}, {ev: "fail", state: BreakerClosed},
			{ev: "fail", state: BreakerOpen, to: "open"},
			{ev: "wait", d: DefaultBreakerBackoff},
			{ev: "allow", state: BreakerHalfOpen, probe: true, to: "half-open"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1e9, 0)}
			b := newBreaker(tt.cfg)
			b.now = clk.now
			jitter := 0.0
			b.jitter = func() float64 { return jitter }
			for i, st := range tt.steps {
				var tr *transition
				switch st.ev {
				case "ok":
					b.success()
				case "fail":
					tr = b.failure()
				case "allow":
					var ok, probe bool
					ok, probe, tr = b.allow()
					if ok != st.allow || probe != st.probe {
						t.Fatalf("step %d: allow() = %v, probe %v; want %v, %v", i, ok, probe, st.allow, st.probe)
					}
				case "probe-ok":
					tr = b.probed(true)
				case "probe-fail":
					jitter = 0.999
					tr = b.probed(false)
				case "wait":
					clk.advance(st.d)
				}
				got := ""
				if tr != nil {
					got = tr.to.String()
				}
				if got != st.to {
					t.Fatalf("step %d (%s): transition to %q, want %q", i, st.ev, got, st.to)
				}
				if st.ev != "wait" || st.state != BreakerClosed {
					if s := b.stats().State; s != st.state {
						t.Fatalf("step %d (%s): state %v, want %v", i, st.ev, s, st.state)
					}
				}
			}
		})
	}
}

// TestBreakerCounters checks Opens, ShortCircuited and Probes.
func TestBreakerCounters(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	b := newBreaker(BreakerSettings{Failures: 1, Backoff: time.Second})
	b.now, b.jitter = clk.now, func() float64 { return 0 }
	b.failure()
	b.allow()
	b.allow()
	clk.advance(time.Second)
	b.allow() // the probe
	b.probed(false)
	want := BreakerStats{State: BreakerOpen, Opens: 2, ShortCircuited: 3, Probes: 1}
	if got := b.stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// TestLogLimiter checks that at most logBurst lines pass per interval and
// that the next line let through reports how many were suppressed.
func TestLogLimiter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l := logLimiter{now: clk.now}
	passed := 0
	for i := 0; i < 100; i++ {
		if ok, _ := l.take(); ok {
			passed++
		}
	}
	if passed != logBurst {
		t.Fatalf("%d lines passed in one interval, want %d", passed, logBurst)
	}
	clk.advance(logInterval)
	ok, suppressed := l.take()
	if !ok || suppressed != 100-logBurst {
		t.Errorf("first line of the next interval: ok %v, suppressed %d; want true, %d", ok, suppressed, 100-logBurst)
	}
	if ok, s := l.take(); !ok || s != 0 {
		t.Errorf("second line: ok %v, suppressed %d; want true, 0", ok, s)
	}
	for i := 0; i < 10; i++ {
		l.take()
	}
	if s := l.flush(); s != 10-logBurst+2 {
		t.Errorf("flush = %d, want %d", s, 10-logBurst+2)
	}
}
