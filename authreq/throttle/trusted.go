package throttle

// Trusted tells whether user logged in from ip's client prefix before,
// within the trust period: a check for it may go ahead of strangers'
// (the server's priority lane). It says nothing of the budgets.
func (t *Throttle) Trusted(user, ip string) bool {
	if !t.enabled() {
		return false
	}
	tk := t.trustKey(user, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.isTrusted(tk, t.now())
}
