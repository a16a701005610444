package pgstore

import "time"

// ChannelName is channelName, for the tests of long table names.
var ChannelName = channelName

// SetListenerTiming sets the listener's ping interval (not the ping's
// timeout) and reconnection backoff for the rest of the test binary's run, and returns a function
// that restores the previous values.
func SetListenerTiming(ping, minRetry, maxRetry time.Duration) (restore func()) {
	p, lo, hi := pingEvery, retryMin, retryMax
	pingEvery, retryMin, retryMax = ping, minRetry, maxRetry
	return func() { pingEvery, retryMin, retryMax = p, lo, hi }
}

// MaxPayload is the longest notification payload the store sends.
const MaxPayload = maxPayload
