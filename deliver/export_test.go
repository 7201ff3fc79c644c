package deliver

// InFlight reports whether w is delivering the event id: a test waits on
// it for a delivery goroutine to let go of its event.
func (w *Worker) InFlight(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.inflight[id]
	return ok
}
