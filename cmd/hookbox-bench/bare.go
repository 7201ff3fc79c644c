package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"net"
	"net/http"
	"time"
)

// bareResponse is what hookbox answers to a new event; the baseline answers
// the same bytes so both receivers write the same amount.
var bareResponse = []byte(`{"received":true}` + "\n")

// bareHandler is the baseline: the least a Go webhook receiver does. It
// reads the whole body (a receiver must hold it to verify the signature)
// and answers 200, with no verification, parsing or storage.
func bareHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+receiver.DefaultPath, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(bareResponse)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}

// runBare serves bareHandler on --listen until ctx is cancelled (SIGTERM).
func runBare(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookbox-bench bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// The same header timeout hookbox serve uses; the rest is the default.
	srv := &http.Server{Handler: bareHandler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "bare receiver on %s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
