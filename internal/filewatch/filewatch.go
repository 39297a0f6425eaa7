// Package filewatch reloads a set of files when they change: the user
// stores' files (htpasswd, group and token files).
package filewatch

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reloads a set of files when they change. It watches each
// file's directory, not the file: an atomic rename, Apache's in-place
// truncate-and-write and Kubernetes' swap of the ..data symlink in a Secret
// volume all show up there. A periodic stat covers file systems without
// inotify (NFS, some overlay setups).
type Watcher struct {
	what     string // names the files in log lines: "htpasswd", "tokens"
	files    []string
	reload   func(why string) error
	log      *slog.Logger
	debounce time.Duration
	poll     time.Duration
	stamps   map[string]stamp  // owned by run once started
	fw       *fsnotify.Watcher // nil: polling only
	stop     chan struct{}
	done     chan struct{}
	closing  sync.Once
}

// stamp identifies a file's content cheaply: what the path resolves to,
// inode, size and modification time.
type stamp struct {
	target string
	ino    uint64
	size   int64
	mtime  time.Time
}

func stampOf(path string) stamp {
	target, _ := filepath.EvalSymlinks(path)
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{target: target}
	}
	s := stamp{target: target, size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// New records the files' stamps and starts watching their
// directories before the caller loads them, so that no change between the
// load and the start of the watch goes unseen.
func New(what string, files []string, log *slog.Logger) *Watcher {
	w := &Watcher{what: what, files: files, log: log, debounce: 100 * time.Millisecond, poll: time.Second,
		stamps: make(map[string]stamp), stop: make(chan struct{}), done: make(chan struct{})}
	for _, f := range files {
		w.stamps[f] = stampOf(f)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn(what+": no file notifications; falling back to polling", "error", err.Error())
		return w
	}
	w.fw = fw
	dirs := make(map[string]bool)
	for _, f := range files {
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		if err := fw.Add(d); err != nil {
			log.Warn(what+": cannot watch directory; polling it", "dir", d, "error", err.Error())
		}
	}
	return w
}

// Start reloads through reload from now on.
func (w *Watcher) Start(reload func(why string) error) {
	w.reload = reload
	go w.run()
}

func (w *Watcher) run() {
	defer close(w.done)
	var events chan fsnotify.Event
	var errs chan error
	if w.fw != nil {
		events, errs = w.fw.Events, w.fw.Errors
	}
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	var debounce <-chan time.Time
	for {
		select {
		case <-w.stop:
			return
		case ev := <-events:
			if !w.concerns(ev.Name) {
				continue
			}
			// Coalesce a burst (truncate, write, chmod; or the several
			// renames of a Secret update) into one reload.
			debounce = time.After(w.debounce)
		case err := <-errs:
			w.log.Warn(w.what+": file notification error", "error", err.Error())
		case <-debounce:
			debounce = nil
			w.reloadIfChanged("file event", true)
		case <-poll.C:
			w.reloadIfChanged("periodic check", false)
		}
	}
}

// concerns tells whether an event in a watched directory may change one of
// our files: the file itself, or Kubernetes' ..data / ..timestamp entries.
func (w *Watcher) concerns(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, "..") {
		return true
	}
	for _, f := range w.files {
		if filepath.Base(f) == base && filepath.Dir(filepath.Clean(f)) == filepath.Dir(filepath.Clean(name)) {
			return true
		}
	}
	return false
}

func (w *Watcher) reloadIfChanged(why string, always bool) {
	changed := always
	for _, f := range w.files {
		s := stampOf(f)
		if s != w.stamps[f] {
			changed = true
		}
		w.stamps[f] = s
	}
	if changed {
		w.reload(why)
	}
}

// Close stops watching; a second Close does nothing.
func (w *Watcher) Close() {
	w.closing.Do(func() {
		close(w.stop)
		if w.reload != nil {
			<-w.done
		}
		if w.fw != nil {
			w.fw.Close()
		}
	})
}
