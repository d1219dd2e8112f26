// Package backup takes the verified v3 snapshot the remediator writes before
// every destructive step: Maintenance.Snapshot streamed to a file, fsynced,
// hashed (sha256), then checked with etcd's own snapshot library (its
// integrity hash, revision and key count) before the step may run.
package backup

import "time"

// Info describes one snapshot file; the journal keeps it with the step.
type Info struct {
	Path      string    `json:"path"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Revision  int64     `json:"revision"`   // the snapshot's revision (etcd's snapshot status)
	TotalKeys int       `json:"total_keys"` // entries in all buckets, as `etcdutl snapshot status` counts them
	Hash      uint32    `json:"hash"`       // etcd's snapshot status hash (crc32 of the db's buckets)
	Member    string    `json:"member"`     // the endpoint it was streamed from
	Taken     time.Time `json:"taken"`
}
