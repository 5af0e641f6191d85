package model

import "time"

// Agent is a client agent, known from its first event; each event naming
// its agent_id is a heartbeat.
type Agent struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Host      string    `json:"host,omitempty"`
	Events    int64     `json:"events"`
	Online    bool      `json:"online"`
}

// OnlineAt reports whether an agent last seen at lastSeen counts as online
// at now, given how long a silence makes it offline.
func OnlineAt(lastSeen, now time.Time, offlineAfter time.Duration) bool {
	return now.Sub(lastSeen) < offlineAfter
}
