// Package configdoc writes the reference of a YAML config from the Go
// structs that decode it: each key (from the yaml tags), its type, its
// default (from a value holding the defaults) and its description (the
// field's comments, read from the Go source). Generated from the structs,
// the reference cannot drift from them; a test compares it with the
// committed file.
package configdoc

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/authreq/authreq/internal/duration"
)

// Doc describes the document to write.
type Doc struct {
	Title string
	Intro string // Markdown, after the title
	// Defaults is a pointer to the root config struct, holding the
	// defaults a config file is read over.
	Defaults any
	// ModuleDir is the directory of go.mod; the structs' comments are
	// read from the packages under it.
	ModuleDir string
}

// row is one key of the reference.
type row struct {
	key, typ, def, desc string
}

// section is a top-level key whose value is an object, or the top level's
// own scalars (key "").
type section struct {
	key, doc string
	rows     []row
}

// Write writes d as Markdown.
func Write(w io.Writer, d Doc) error {
	v := reflect.ValueOf(d.Defaults)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("configdoc: Defaults must point to a struct, not %T", d.Defaults)
	}
	g, err := newGenerator(d.ModuleDir)
	if err != nil {
		return err
	}
	root := v.Elem()
	top := &section{}
	sections := []*section{top}
	g.fields(root.Type(), root, "", owner{typ: root.Type()}, func(key string, f reflect.StructField, fv reflect.Value, desc string) bool {
		if isObject(f.Type) && !strings.Contains(key, ".") {
			ft := deref(f.Type)
			s := &section{key: key, doc: desc}
			if s.doc == "" {
				s.doc = g.typeDoc(ft)
			}
			sections = append(sections, s)
			g.fields(ft, derefValue(fv), key+".", owner{typ: ft}, func(key string, f reflect.StructField, fv reflect.Value, desc string) bool {
				s.rows = append(s.rows, g.row(key, f.Type, fv, desc))
				return true
			})
			return false
		}
		top.rows = append(top.rows, g.row(key, f.Type, fv, desc))
		return true
	})
	if g.err != nil {
		return g.err
	}

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n\n%s\n", d.Title, strings.TrimSpace(d.Intro))
	for _, s := range sections {
		if len(s.rows) == 0 {
			continue
		}
		if s.key == "" {
			fmt.Fprintf(bw, "\n## Top level\n\n")
		} else {
			fmt.Fprintf(bw, "\n## `%s`\n\n", s.key)
			if s.doc != "" {
				fmt.Fprintf(bw, "%s\n\n", s.doc)
			}
		}
		fmt.Fprintf(bw, "| key | type | default | description |\n| --- | --- | --- | --- |\n")
		for _, r := range s.rows {
			def := ""
			if r.def != "" {
				def = "`" + r.def + "`"
			}
			fmt.Fprintf(bw, "| `%s` | %s | %s | %s |\n", r.key, r.typ, cell(def), cell(r.desc))
		}
	}
	return bw.Flush()
}

// cell escapes what would end a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// owner is the named struct type whose source declares a field, and the
// path of anonymous struct fields inside it that leads to the field.
type owner struct {
	typ  reflect.Type
	path string // "Failures." for a field of an anonymous struct field Failures
}

type generator struct {
	moduleDir, modulePath string
	comments              map[string]string // "pkgpath.Type.Field[.Field]" → comment
	typeDocs              map[string]string // "pkgpath.Type" → doc
	parsed                map[string]bool   // package paths read
	err                   error
}

func newGenerator(moduleDir string) (*generator, error) {
	b, err := os.ReadFile(filepath.Join(moduleDir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("configdoc: %w", err)
	}
	g := &generator{moduleDir: moduleDir, comments: map[string]string{}, typeDocs: map[string]string{}, parsed: map[string]bool{}}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			g.modulePath = strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	if g.modulePath == "" {
		return nil, fmt.Errorf("configdoc: %s: no module line", filepath.Join(moduleDir, "go.mod"))
	}
	return g, nil
}

// fields calls emit for each YAML key of struct type t (value v, possibly
// invalid where there is no default), inline fields flattened; emit
// returns whether to descend into an object's keys.
func (g *generator) fields(t reflect.Type, v reflect.Value, prefix string, own owner, emit func(key string, f reflect.StructField, fv reflect.Value, desc string) bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		if f.Anonymous && strings.Contains(","+opts+",", ",inline,") {
			ft := deref(f.Type)
			g.fields(ft, derefValue(fv), prefix, owner{typ: ft}, emit)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // as the yaml package does
		}
		key := prefix + name
		desc := g.comment(own, f.Name)
		// Go's convention opens a field's doc with its Go name; the reader
		// knows it by its key.
		if rest, ok := strings.CutPrefix(desc, f.Name+" "); ok {
			desc = "`" + name + "` " + rest
		} else if rest, ok := strings.CutPrefix(desc, f.Name+": "); ok {
			desc = "`" + name + "`: " + rest
		}
		if !emit(key, f, fv, desc) {
			continue
		}
		ft := deref(f.Type)
		switch {
		case isObject(f.Type):
			sub := owner{typ: ft}
			if ft.Name() == "" { // an anonymous struct: declared in the owner's source
				sub = owner{typ: own.typ, path: own.path + f.Name + "."}
			}
			g.fields(ft, derefValue(fv), key+".", sub, emit)
		case ft.Kind() == reflect.Slice && isObject(ft.Elem()):
			et := deref(ft.Elem())
			g.fields(et, reflect.Value{}, key+"[].", owner{typ: et}, emit)
		}
	}
}

func (g *generator) row(key string, t reflect.Type, v reflect.Value, desc string) row {
	return row{key: key, typ: typeName(t), def: value(v), desc: desc}
}

var durationType = reflect.TypeFor[duration.Duration]()

// isObject: a struct (or a pointer to one) that YAML reads as a mapping.
func isObject(t reflect.Type) bool {
	t = deref(t)
	return t.Kind() == reflect.Struct && t != durationType
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func derefValue(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func typeName(t reflect.Type) string {
	t = deref(t)
	switch {
	case t == durationType:
		return "duration"
	case isObject(t):
		return "object"
	}
	switch t.Kind() {
	case reflect.Slice:
		if isObject(t.Elem()) {
			return "list of objects"
		}
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.Kind().String() // string, bool
}

// value is a default as it would be written in YAML; "" for none (an
// empty string, list or object, or no value).
func value(v reflect.Value) string {
	v = derefValue(v)
	if !v.IsValid() {
		return ""
	}
	if v.Type() == durationType {
		return shortDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 || isObject(v.Type().Elem()) {
			return ""
		}
		items := make([]string, v.Len())
		for i := range items {
			items[i] = value(v.Index(i))
			if v.Index(i).Kind() == reflect.String {
				items[i] = strconv.Quote(items[i])
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return ""
}

// shortDuration writes 5m rather than time's 5m0s.
func shortDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// comment is the doc and line comment of field name of own, in one line.
func (g *generator) comment(own owner, name string) string {
	t := own.typ
	g.parse(t.PkgPath())
	return g.comments[t.PkgPath()+"."+t.Name()+"."+own.path+name]
}

func (g *generator) typeDoc(t reflect.Type) string {
	g.parse(t.PkgPath())
	return g.typeDocs[t.PkgPath()+"."+t.Name()]
}

// parse reads the comments of the struct types of package pkg, if it is
// in the module.
func (g *generator) parse(pkg string) {
	if g.parsed[pkg] || g.err != nil {
		return
	}
	g.parsed[pkg] = true
	rel, ok := strings.CutPrefix(pkg, g.modulePath)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return // the standard library or another module: no comments
	}
	dir := filepath.Join(g.moduleDir, filepath.FromSlash(rel))
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		g.err = err
		return
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			g.err = fmt.Errorf("configdoc: %v", err)
			return
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				g.typeDocs[pkg+"."+ts.Name.Name] = oneLine(doc)
				g.structComments(pkg+"."+ts.Name.Name+".", st)
			}
		}
	}
}

func (g *generator) structComments(prefix string, st *ast.StructType) {
	for _, fl := range st.Fields.List {
		desc := strings.TrimSpace(oneLine(fl.Doc) + " " + oneLine(fl.Comment))
		for _, n := range fl.Names {
			g.comments[prefix+n.Name] = desc
			if sub, ok := fl.Type.(*ast.StructType); ok {
				g.structComments(prefix+n.Name+".", sub)
			}
		}
	}
}

// oneLine joins a comment's lines into one.
func oneLine(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	var b bytes.Buffer
	for _, l := range strings.Split(c.Text(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(l)
		}
	}
	return b.String()
}
