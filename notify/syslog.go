package notify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"vigil/store"
)

// SendCheckpointSyslog sends the signed note as one RFC 5424 message,
// octet-counted over TCP, with MSGID CHECKPOINT.
func SendCheckpointSyslog(ctx context.Context, addr string, cp store.StoredCheckpoint, now time.Time) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	host, _ := os.Hostname()
	if host == "" {
		host = "-"
	}
	// PRI 110: facility 13 (log audit), severity 6 (informational).
	msg := fmt.Sprintf(`<110>1 %s %s vigil - CHECKPOINT [checkpoint@32473 tree_size="%d" id="%d"] %s`,
		now.UTC().Format(time.RFC3339), host, cp.Size, cp.ID, cp.Note)
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Write([]byte(strconv.Itoa(len(msg)) + " " + msg))
	return err
}
