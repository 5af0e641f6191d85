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

// PublishCheckpoint sends a copy of a new checkpoint off the box: to the
// webhook (n may be nil: none) in the background, and to the remote syslog
// receiver syslogAddr if it is set. It returns the syslog error, if any.
func (n *Notifier) PublishCheckpoint(ctx context.Context, cp store.StoredCheckpoint, syslogAddr string, now time.Time) error {
	n.PushCheckpoint(ctx, cp)
	if syslogAddr == "" {
		return nil
	}
	if err := SendCheckpointSyslog(ctx, syslogAddr, cp, now); err != nil {
		return fmt.Errorf("checkpoint %d not sent to %s: %w", cp.ID, syslogAddr, err)
	}
	return nil
}

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
