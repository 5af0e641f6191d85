// Package notify sends copies of what Vigil finds off the box: new alerts
// and signed checkpoints to the webhook, checkpoints to a remote syslog
// receiver. It uses the store and model; the checks and the console use it.
package notify

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/model"
	"vigil/store"
)

// Options tune the webhook notifier. Zero values take the defaults.
type Options struct {
	Attempts   int           // tries per alert; default 6
	Backoff    time.Duration // wait before the second try, doubled after each; default 2s
	MaxBackoff time.Duration // longest wait between tries; default 5m
	Timeout    time.Duration // per request; default 10s
	QueueSize  int           // alerts waiting to be sent; default 1000
	Client     *http.Client  // default: a client with Timeout
}

// Notifier POSTs each new alert as JSON to the webhook URL, from its own
// goroutine, retrying with exponential backoff. Each alert's delivery state
// (pending, delivered, failed, attempts, last error) is kept with the
// alert; alerts still pending when Vigil stopped are sent on the next
// start. Nothing waits for a delivery: a dead receiver never holds up a
// check or a request.
type Notifier struct {
	url   string
	opts  Options
	st    *store.Store
	log   *slog.Logger
	queue chan model.Alert
	wg    sync.WaitGroup

	sent *prometheus.CounterVec
}

// New returns a notifier posting to url, or nil when url is empty (a nil
// *Notifier ignores alerts).
func New(url string, st *store.Store, log *slog.Logger, reg prometheus.Registerer, opts Options) (*Notifier, error) {
	if url == "" {
		return nil, nil
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 6
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	n := &Notifier{
		url: url, opts: opts, st: st, log: log, queue: make(chan model.Alert, opts.QueueSize),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_webhook_deliveries_total", Help: "Webhook alert deliveries, by result (delivered, retried, failed).",
		}, []string{"result"}),
	}
	if reg != nil {
		if err := reg.Register(n.sent); err != nil {
			return nil, fmt.Errorf("notify: register webhook metrics: %w", err)
		}
	}
	return n, nil
}

// Start sends, until ctx is done, the alerts left pending by a previous run
// and then every alert passed to Notify.
func (n *Notifier) Start(ctx context.Context) error {
	if n == nil {
		return nil
	}
	pending, err := n.st.PendingAlertDeliveries(ctx)
	if err != nil {
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for _, a := range pending {
			if ctx.Err() != nil {
				return
			}
			n.deliver(ctx, a)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-n.queue:
				n.deliver(ctx, a)
			}
		}
	}()
	return nil
}

// Wait waits for the sender to stop once Start's ctx is done. Alerts not
// delivered by then stay pending and are sent on the next start.
func (n *Notifier) Wait() {
	if n != nil {
		n.wg.Wait()
	}
}

// Notify queues a new alert for delivery and marks it pending. It never
// waits: when the queue is full the alert stays pending for the next start.
func (n *Notifier) Notify(ctx context.Context, a model.Alert) {
	if n == nil {
		return
	}
	a.Delivery = model.Delivery{Status: model.DeliveryPending}
	if err := n.st.SetAlertDelivery(context.WithoutCancel(ctx), a.ID, a.Delivery); err != nil {
		n.log.Error("webhook: marking alert pending", "alert_id", a.ID, "err", err)
	}
	select {
	case n.queue <- a:
	default:
		n.log.Warn("webhook: queue full; alert stays pending until the next start", "alert_id", a.ID)
	}
}

// payload is the JSON body posted for an alert.
type payload struct {
	Kind  string    `json:"kind"` // "alert"
	Sent  time.Time `json:"sent_at"`
	Alert alertJSON `json:"alert"`
}

// alertJSON is an alert as posted: without its delivery state (the
// receiver is that delivery) and, for an alert about a certificate (its
// own, its renewal job's, or its endpoint's), with the certificate's
// not_after, its days_left when the alert was raised (the days its message
// states) and the certificate itself with where it is served.
type alertJSON struct {
	model.Alert
	Delivery    *model.Delivery `json:"delivery,omitempty"` // never set: hides the alert's own
	NotAfter    *time.Time      `json:"not_after,omitempty"`
	DaysLeft    *int            `json:"days_left,omitempty"`
	Certificate *certJSON       `json:"certificate,omitempty"`
}

// certJSON is the certificate an alert is about, as posted.
type certJSON struct {
	ID          int64          `json:"id"`
	Subject     string         `json:"subject"`
	Serial      string         `json:"serial"`
	Fingerprint string         `json:"fingerprint"`
	NotAfter    time.Time      `json:"not_after"`
	Endpoints   []endpointJSON `json:"endpoints"`
}

// endpointJSON is an endpoint that serves (at its last check) or should
// serve the certificate of an alert.
type endpointJSON struct {
	ID         int64  `json:"id"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	ServerName string `json:"server_name"`
	Serving    bool   `json:"serving"`
	Expected   bool   `json:"expected"`
}

// deliver posts a until the receiver answers 2xx or the attempts run out,
// keeping the delivery state up to date.
func (n *Notifier) deliver(ctx context.Context, a model.Alert) {
	// The same alert may be both left pending and queued: send it only
	// while it is still pending.
	cur, err := n.st.AlertByID(ctx, a.ID)
	if err != nil || cur.Delivery.Status != model.DeliveryPending {
		return
	}
	a = cur
	d := model.Delivery{Status: model.DeliveryPending, Attempts: a.Delivery.Attempts}
	wait := n.opts.Backoff
	var body []byte // built once, posted at every attempt
	var key string
	for try := 1; try <= n.opts.Attempts; try++ {
		d.Attempts++
		var err error
		if body == nil {
			body, key, err = n.alertBody(ctx, a)
		}
		if err == nil {
			err = n.postJSON(ctx, body, key)
		}
		if err == nil {
			t := time.Now().UTC()
			d.Status, d.Error, d.At = model.DeliveryDelivered, "", &t
			n.sent.WithLabelValues("delivered").Inc()
			n.log.Info("webhook: alert delivered", "alert_id", a.ID, "attempts", d.Attempts)
			break
		}
		d.Error = err.Error()
		if ctx.Err() != nil {
			// Stopping: the alert stays pending for the next start.
			n.record(a, d)
			return
		}
		if try == n.opts.Attempts {
			d.Status = model.DeliveryFailed
			n.sent.WithLabelValues("failed").Inc()
			n.log.Error("webhook: alert not delivered", "alert_id", a.ID, "attempts", d.Attempts, "err", err)
			break
		}
		n.sent.WithLabelValues("retried").Inc()
		n.log.Warn("webhook: delivery failed; retrying", "alert_id", a.ID, "attempt", d.Attempts, "in", wait, "err", err)
		n.record(a, d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, n.opts.MaxBackoff)
	}
	n.record(a, d)
}

// record stores the state of a's delivery, unless a reminder of a was
// marked (and queued) since it began.
func (n *Notifier) record(a model.Alert, d model.Delivery) {
	if err := n.st.RecordAlertDelivery(context.Background(), a.ID, a.Reminders, d); err != nil {
		n.log.Error("webhook: recording delivery", "alert_id", a.ID, "err", err)
	}
}

// alertBody is the JSON posted for a, and its idempotency key.
func (n *Notifier) alertBody(ctx context.Context, a model.Alert) (body []byte, key string, err error) {
	aj := alertJSON{Alert: a}
	if c, ok := n.certificateOf(ctx, a.Entity); ok {
		days, notAfter := c.DaysLeft(a.CreatedAt), c.NotAfter.UTC()
		aj.DaysLeft, aj.NotAfter = &days, &notAfter
		aj.Certificate = &certJSON{ID: c.ID, Subject: c.Subject, Serial: c.Serial, Fingerprint: c.Fingerprint,
			NotAfter: notAfter, Endpoints: []endpointJSON{}}
		eps, err := n.st.ListEndpoints(ctx)
		if err != nil {
			return nil, "", err
		}
		for _, u := range model.EndpointsOf(c.Fingerprint, eps) {
			aj.Certificate.Endpoints = append(aj.Certificate.Endpoints,
				endpointJSON{ID: u.ID, Host: u.Host, Port: u.Port, ServerName: u.ServerName, Serving: u.Serving, Expected: u.Expected})
		}
	}
	if body, err = json.Marshal(payload{Kind: "alert", Sent: time.Now().UTC(), Alert: aj}); err != nil {
		return nil, "", err
	}
	// A reminder is a delivery of its own: a receiver that drops repeated
	// keys must not drop it.
	key = fmt.Sprintf("vigil-alert-%d", a.ID)
	if a.Reminders > 0 {
		key += fmt.Sprintf("-reminder-%d", a.Reminders)
	}
	return body, key, nil
}

// certificateOf returns the inventory certificate an alert's entity is
// about: the certificate itself, a job's certificate (RENEWAL_FAILED), or
// the certificate an endpoint expects, else serves (DEPLOYMENT_FAILED).
func (n *Notifier) certificateOf(ctx context.Context, e model.Entity) (model.Certificate, bool) {
	id, err := strconv.ParseInt(e.ID, 10, 64)
	if err != nil {
		return model.Certificate{}, false
	}
	switch e.Type {
	case "CERTIFICATE":
	case "JOB":
		j, err := n.st.JobByID(ctx, id)
		if err != nil || j.CertificateID == 0 {
			return model.Certificate{}, false
		}
		id = j.CertificateID
	case "ENDPOINT":
		ep, err := n.st.EndpointByID(ctx, id)
		if err != nil {
			return model.Certificate{}, false
		}
		for _, fp := range []string{ep.ExpectedFingerprint, ep.LastFingerprint} {
			if fp == "" {
				continue
			}
			if c, err := n.st.CertificateByFingerprint(ctx, fp); err == nil {
				return c, true
			}
		}
		return model.Certificate{}, false
	default:
		return model.Certificate{}, false
	}
	c, err := n.st.CertificateByID(ctx, id)
	return c, err == nil
}

// checkpointPayload is the JSON body posted for a checkpoint.
type checkpointPayload struct {
	Kind       string    `json:"kind"` // "checkpoint"
	Sent       time.Time `json:"sent_at"`
	Checkpoint struct {
		ID       int64     `json:"id"`
		Origin   string    `json:"origin"`
		TreeSize uint64    `json:"tree_size"`
		RootHash string    `json:"root_hash"`
		Time     time.Time `json:"time"`
		Note     string    `json:"checkpoint"` // the signed note
		// The RFC 3161 token over the note (base64 DER) and its genTime.
		TimestampToken []byte     `json:"timestamp_token,omitempty"`
		TimestampTime  *time.Time `json:"timestamp_time,omitempty"`
	} `json:"checkpoint"`
}

// PushCheckpoint sends a copy of a new checkpoint to the webhook, from its
// own goroutine, retrying with backoff. A checkpoint that cannot be
// delivered is not kept for later: the next one supersedes it.
func (n *Notifier) PushCheckpoint(ctx context.Context, cp store.StoredCheckpoint) {
	if n == nil {
		return
	}
	var p checkpointPayload
	p.Kind, p.Sent = "checkpoint", time.Now().UTC()
	p.Checkpoint.ID, p.Checkpoint.Origin, p.Checkpoint.TreeSize = cp.ID, cp.Origin, cp.Size
	p.Checkpoint.RootHash, p.Checkpoint.Time, p.Checkpoint.Note = hex.EncodeToString(cp.Root), cp.Time, cp.Note
	if ts := cp.Timestamp; ts != nil {
		p.Checkpoint.TimestampToken, p.Checkpoint.TimestampTime = ts.Token, &ts.Time
	}
	body, err := json.Marshal(p)
	if err != nil {
		n.log.Error("webhook: encoding checkpoint", "err", err)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		wait := n.opts.Backoff
		for try := 1; ; try++ {
			err := n.postJSON(ctx, body, fmt.Sprintf("vigil-checkpoint-%d", cp.ID))
			if err == nil {
				n.sent.WithLabelValues("delivered").Inc()
				return
			}
			if try == n.opts.Attempts || ctx.Err() != nil {
				n.sent.WithLabelValues("failed").Inc()
				n.log.Error("webhook: checkpoint not delivered", "checkpoint_id", cp.ID, "attempts", try, "err", err)
				return
			}
			n.sent.WithLabelValues("retried").Inc()
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, n.opts.MaxBackoff)
		}
	}()
}

// postJSON posts body once; any answer but 2xx is an error.
func (n *Notifier) postJSON(ctx context.Context, body []byte, idempotencyKey string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-webhook")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}
