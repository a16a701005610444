package core

import (
	"context"
	"errors"
	"sync"
	"unsafe"
)

// ViewGetter is implemented by stores that read a value into memory of their
// own, reused from read to read (an embedded database's page cache, a
// driver's receive buffer): GetView lends the value to a function instead of
// copying it out. The Cache decodes the loan and copies out only what the
// decoded Entry would keep of it, the body, once, into a slice of the body's
// exact size. A store's Get must copy the whole value (header and body
// together) into a slice the Cache then keeps, and for a large body the Go
// runtime rounds that one allocation up to whole 8 KiB pages: a 64 KiB body
// in a 66 KB value costs 72 KiB, where through GetView it costs 64 KiB.
//
// Contract:
//   - GetView(ctx, key, fn) is Get(ctx, key) followed, on success, by
//     fn(value) with the value Get would return: the same errors (fn is then
//     not called), the same handling of ctx, the same effects (a read's
//     access time). fn is called at most once. value is valid only until
//     fn returns and neither side modifies it. GetView returns fn's error
//     when fn fails (the Cache's never does).
//   - ViewStore returns the store itself, a pointer (comparable), for the
//     reason SlotGetter.SlotStore does: the Cache reads through GetView only
//     when ViewStore is the store it was given, so that a store embedding
//     this one and overriding Get is read with its own Get.
//
// A store implementing SlotGetter or LocalGetter is read through those
// first.
type ViewGetter interface {
	GetView(ctx context.Context, key string, fn func(value []byte) error) error
	ViewStore() Store
}

// viewGetter returns store's ViewGetter when store is one itself (see
// ViewGetter.ViewStore), nil otherwise.
func viewGetter(store Store) ViewGetter {
	vg, ok := store.(ViewGetter)
	if !ok || !sameStore(vg.ViewStore(), store) {
		return nil
	}
	return vg
}

// errNoLoan is the store error of a GetView that succeeded without lending
// a value.
var errNoLoan = errors.New("GetView succeeded without lending a value")

// viewRead is one read through a ViewGetter: the loan's decoding into e and
// its outcome, for a Cache's readEntry. They are pooled with their decode
// function bound once, so that a read allocates neither.
type viewRead struct {
	codec Codec
	e     *Entry
	// decodeErr is the codec's error: the store answered (the call
	// succeeded) with a value that does not decode.
	decodeErr error
	called    bool                     // the store lent a value
	fn        func(value []byte) error // decode, bound to this viewRead
}

var viewReads = sync.Pool{New: func() any {
	r := new(viewRead)
	r.fn = r.decode
	return r
}}

// newViewRead returns a pooled viewRead decoding with codec into e.
func newViewRead(codec Codec, e *Entry) *viewRead {
	r := viewReads.Get().(*viewRead)
	r.codec, r.e = codec, e
	return r
}

// release returns r to the pool once its outcome is read.
func (r *viewRead) release() {
	r.codec, r.e, r.decodeErr, r.called = nil, nil, nil, false
	viewReads.Put(r)
}

// decode is the function GetView lends the value to: it decodes value into
// r.e and detaches the Entry from it. It never fails the store's call.
func (r *viewRead) decode(value []byte) error {
	r.called = true
	if r.decodeErr = r.codec.Decode(value, r.e); r.decodeErr == nil {
		detach(r.e, value)
	}
	return nil
}

// detach makes e keep nothing of loan, the value it was decoded from, which
// its store reuses once the decoding returns. By the Codec contract only the
// body may alias the value it was decoded from: a body that does is copied,
// one of the codec's own (a decompressed or decrypted one) is kept.
func detach(e *Entry, loan []byte) {
	switch {
	case e.Body == nil:
	case len(e.Body) == 0:
		e.Body = []byte{}
	case overlaps(e.Body, loan):
		b := make([]byte, len(e.Body))
		copy(b, e.Body)
		e.Body = b
	}
}

// overlaps reports whether a and b, both non-empty, share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}
