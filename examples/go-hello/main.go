// go-hello: a static Go HTTP server on $PORT (standard library only).
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"runtime"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		log.Printf("greeting %s", name)
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"greeting": "hello, " + name,
			"path":     r.URL.Path,
			"go":       runtime.Version(),
		})
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
