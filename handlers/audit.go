package handlers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

func (s *Server) verifyChain(c echo.Context) error {
	var opts store.VerifyOptions
	if s.cfg.CheckpointKey != nil {
		opts.PublicKey = s.cfg.CheckpointKey.PublicKey()
	}
	rep, err := s.verifier.verify(c.Request().Context(), opts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// checkpointJSON is the API form of a signed checkpoint.
type checkpointJSON struct {
	ID         int64  `json:"id"`
	Origin     string `json:"origin"`
	TreeSize   uint64 `json:"tree_size"`
	RootHash   string `json:"root_hash"`
	Time       string `json:"time"`
	Checkpoint string `json:"checkpoint"` // the signed note, to keep off the box
	PublicKey  string `json:"public_key,omitempty"`
	// The RFC 3161 token over the SHA-256 of Checkpoint (base64 DER) and
	// its genTime, once the time-stamping authority stamped it.
	TimestampToken string `json:"timestamp_token,omitempty"`
	TimestampTime  string `json:"timestamp_time,omitempty"`
}

func (s *Server) checkpointJSON(cp store.StoredCheckpoint) checkpointJSON {
	j := checkpointJSON{ID: cp.ID, Origin: cp.Origin, TreeSize: cp.Size, RootHash: hex.EncodeToString(cp.Root),
		Time: cp.Time.UTC().Format("2006-01-02T15:04:05Z"), Checkpoint: cp.Note}
	if ts := cp.Timestamp; ts != nil {
		j.TimestampToken = base64.StdEncoding.EncodeToString(ts.Token)
		j.TimestampTime = ts.Time.UTC().Format(time.RFC3339Nano)
	}
	if s.cfg.CheckpointKey != nil {
		j.PublicKey = s.cfg.CheckpointKey.PublicKey()
		j.Origin = s.cfg.CheckpointKey.Origin()
	}
	return j
}

// latestCheckpoint returns the newest checkpoint as JSON, or just its
// signed note to a client whose Accept header prefers text/plain.
func (s *Server) latestCheckpoint(c echo.Context) error {
	cp, err := s.store.LatestCheckpoint(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderVary, echo.HeaderAccept)
	if prefers(c.Request().Header.Get(echo.HeaderAccept), "text/plain", "application/json") {
		return c.String(http.StatusOK, cp.Note)
	}
	return c.JSON(http.StatusOK, s.checkpointJSON(cp))
}

// createCheckpoint signs the current tree head now.
func (s *Server) createCheckpoint(c echo.Context) error {
	if s.cfg.CheckpointKey == nil {
		return model.Errorf(model.EUNAVAILABLE, "no checkpoint key is configured")
	}
	cp, err := s.signAuditedCheckpoint(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.checkpointJSON(cp))
}

// signAuditedCheckpoint signs the current tree head for the caller, with
// its E_CHECKPOINT_SIGNED event in the same transaction, has it
// time-stamped, and hands the checkpoint to OnCheckpoint to be sent off
// the box.
func (s *Server) signAuditedCheckpoint(c echo.Context) (store.StoredCheckpoint, error) {
	cp, err := s.store.SignCheckpoint(c.Request().Context(), s.cfg.CheckpointKey, func(cp store.StoredCheckpoint) ([]model.Event, error) {
		e, err := s.consoleEvent(c, model.CategorySystem, principal(c).User.Name, "E_CHECKPOINT_SIGNED", "SUCCESS",
			fmt.Sprintf("Signed a checkpoint of %d events", cp.Size), map[string]any{"tree_size": cp.Size, "checkpoint_id": cp.ID})
		return []model.Event{e}, err
	})
	if err != nil {
		return store.StoredCheckpoint{}, err
	}
	ctx := context.WithoutCancel(c.Request().Context())
	if s.cfg.StampCheckpoint != nil {
		// The checkpoint is stored; a TSA that fails leaves it unstamped,
		// with an alert.
		cp, _ = s.cfg.StampCheckpoint(ctx, cp)
	}
	if s.cfg.OnCheckpoint != nil {
		s.cfg.OnCheckpoint(ctx, cp)
	}
	return cp, nil
}

func (s *Server) eventProof(c echo.Context) error {
	id, err := pathID(c, "event")
	if err != nil {
		return err
	}
	// Only events the caller may see are proven.
	if _, err := s.store.EventByID(c.Request().Context(), id, model.VisibilityFor(principal(c).User)); err != nil {
		return err
	}
	size, err := treeSizeParam(c, "size")
	if err != nil {
		return err
	}
	p, err := s.store.InclusionProof(c.Request().Context(), id, size)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) consistencyProof(c echo.Context) error {
	from, err := uintParam(c, "from")
	if err != nil {
		return err
	}
	to, err := treeSizeParam(c, "to")
	if err != nil {
		return err
	}
	p, err := s.store.ConsistencyProof(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// treeSizeParam parses an optional tree size: absent means the current
// tree (0); a tree of 0 events has no proofs, so an explicit 0 is refused.
func treeSizeParam(c echo.Context, name string) (uint64, error) {
	n, err := uintParam(c, name)
	if err == nil && n == 0 && c.QueryParam(name) != "" {
		return 0, model.Errorf(model.EINVALID, "%s must be at least 1 (omit it for the current tree)", name)
	}
	return n, err
}

// uintParam parses an optional non-negative integer query parameter.
func uintParam(c echo.Context, name string) (uint64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, model.Errorf(model.EINVALID, "%s must be a non-negative integer", name)
	}
	return n, nil
}
