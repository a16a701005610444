package redisstore

// EncodeForTest exposes the stored form to the external tests.
var EncodeForTest = encode

// ClientParams exposes the go-redis parameters the DSN opener passes on.
func ClientParams() []string { return clientParams }

// ClusterParams exposes the go-redis parameters the cluster DSN opener
// passes on.
func ClusterParams() []string { return clusterParams }
