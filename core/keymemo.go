package core

import (
	"hash/maphash"
	"net/http"
	"sync/atomic"
)

// keyMemoSlots is how many keys a Cache's keyMemo remembers. A program
// requesting more distinct URLs than that again and again derives some keys
// afresh, as without the memo.
const keyMemoSlots = 1024

// keyMemoMaxLen bounds the parts of a request a keyMemo remembers (the sum
// of their lengths): longer requests are keyed afresh every time.
const keyMemoMaxLen = 512

// keyMemo remembers the primary keys of recently keyed requests without a
// body key (GET and HEAD, nearly always), so that a request for a URL keyed
// before is not normalised and hashed again: on a hit those two steps were
// about a fifth of the cache's CPU time. A key is remembered the second time
// it is derived in a row for its slot, so that requests for URLs never seen
// again (misses of a crawl) do not pay for remembering them. It is safe for
// concurrent use.
//
// It is exact, never a guess: a remembered key is returned only for a
// request whose every input to the key's derivation (method, scheme,
// effective host, path in both forms, raw query) is equal to those it was
// derived from; everything else that goes into a key (the ignored
// parameters) is fixed for the Cache. It is not used with WithKeyFunc.
type keyMemo struct {
	seed  maphash.Seed
	slots [keyMemoSlots]atomic.Pointer[memoKey]
	// seen holds, per slot, the hash of the inputs last derived there
	// without being remembered (with the low bit set, so that 0 is none).
	seen [keyMemoSlots]atomic.Uint64
}

// keyInput is what the primary key of a request without a body key is
// derived from (see appendURL).
type keyInput struct {
	method, scheme, host, path, rawPath, rawQuery string
}

// memoKey is a remembered key and what it was derived from; never modified
// once stored.
type memoKey struct {
	in  keyInput
	key string
}

func newKeyMemo() *keyMemo { return &keyMemo{seed: maphash.MakeSeed()} }

// inputOf returns the inputs of req's key for method, and false when they
// are too long to remember.
func inputOf(req *http.Request, method string) (keyInput, bool) {
	u := req.URL
	in := keyInput{method, u.Scheme, wireHost(req), u.Path, u.RawPath, u.RawQuery}
	n := len(in.method) + len(in.scheme) + len(in.host) + len(in.path) + len(in.rawPath) + len(in.rawQuery)
	return in, n <= keyMemoMaxLen
}

// get returns the key remembered for in, if any, and the hash of in for
// derived.
func (m *keyMemo) get(in *keyInput) (key string, h uint64, ok bool) {
	h = maphash.Comparable(m.seed, *in)
	if k := m.slots[h%keyMemoSlots].Load(); k != nil && k.in == *in {
		return k.key, h, true
	}
	return "", h, false
}

// derived is told the key derived for in (whose hash is h) after get found
// none. It remembers it, in place of what the slot held, when the same inputs
// were derived there last time too. The strings are copied into one
// allocation of their own, so that the memo holds on to nothing of the
// request.
func (m *keyMemo) derived(in *keyInput, h uint64, key string) {
	i := h % keyMemoSlots
	if m.seen[i].Swap(h|1) != h|1 {
		return
	}
	all := in.method + in.scheme + in.host + in.path + in.rawPath + in.rawQuery
	k := &memoKey{key: key}
	parts := [...]*string{&k.in.method, &k.in.scheme, &k.in.host, &k.in.path, &k.in.rawPath, &k.in.rawQuery}
	src := [...]string{in.method, in.scheme, in.host, in.path, in.rawPath, in.rawQuery}
	for j, p := range parts {
		*p, all = all[:len(src[j])], all[len(src[j]):]
	}
	m.slots[i].Store(k)
}
