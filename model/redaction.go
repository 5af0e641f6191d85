package model

// OutcomeRedacted is the outcome of an event whose content retention has
// removed while keeping its commitment (id, category, tenant, times, hash,
// hash of the content): SPEC §7. It is not one of Outcomes, so no event is
// ever accepted with it; only retention writes it.
const OutcomeRedacted = "REDACTED"

// Redacted reports whether retention removed e's content. Its category,
// tenant, times, source and hash are still the original event's; its type,
// message and details say that it was redacted and by which record.
func (e Event) Redacted() bool { return e.Outcome == OutcomeRedacted }
