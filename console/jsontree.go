package console

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// maxTreeNodes and maxTreeDepth bound the payload tree (and so its HTML,
// whatever the body); a larger or deeper body is shown as text only.
// Browsers stop nesting elements a few hundred deep; Stripe's events nest
// about ten.
const (
	maxTreeNodes = 5000
	maxTreeDepth = 100
)

// node is one value of a JSON payload, in document order (a map would
// lose the order of keys). Templates render it as nested <details>.
type node struct {
	Key    string // the member name, or the index in an array
	Kind   string // object, array, string, number, bool, null
	Value  string // scalars: the JSON text (a string with its quotes)
	Nodes  []*node
	Depth  int
	IsLast bool
}

// Open reports whether the node starts unfolded: the top levels do.
func (n *node) Open() bool { return n.Depth < 4 }

// parseTree returns the body as a tree and as text: indented when it is
// JSON and its indented form is not too large (see IndentJSON), else as
// stored with asIs set. The tree is nil when the body is empty, not JSON,
// or too large or deep.
func parseTree(body []byte) (tree *node, text string, asIs bool) {
	if len(body) == 0 {
		return nil, "", false
	}
	if !json.Valid(body) {
		return nil, printable(string(body)), false
	}
	var buf bytes.Buffer
	if IndentJSON(&buf, body, "", "  ") {
		text = buf.String()
	} else {
		text, asIs = printable(string(body)), true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	count := 0
	root, err := decodeNode(dec, "", 0, &count)
	if err != nil {
		return nil, text, asIs
	}
	return root, text, asIs
}

type errTooLarge struct{}

func (errTooLarge) Error() string { return "payload too large for a tree" }

func decodeNode(dec *json.Decoder, key string, depth int, count *int) (*node, error) {
	*count++
	if *count > maxTreeNodes || depth > maxTreeDepth {
		return nil, errTooLarge{}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &node{Key: key, Depth: depth}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.Kind = "object"
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				c, err := decodeNode(dec, k, depth+1, count)
				if err != nil {
					return nil, err
				}
				n.Nodes = append(n.Nodes, c)
			}
		case '[':
			n.Kind = "array"
			for i := 0; dec.More(); i++ {
				c, err := decodeNode(dec, strconv.Itoa(i), depth+1, count)
				if err != nil {
					return nil, err
				}
				n.Nodes = append(n.Nodes, c)
			}
		default:
			return nil, io.ErrUnexpectedEOF
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		if len(n.Nodes) > 0 {
			n.Nodes[len(n.Nodes)-1].IsLast = true
		}
	case string:
		n.Kind = "string"
		n.Value = quote(t)
	case json.Number:
		n.Kind, n.Value = "number", t.String()
	case bool:
		n.Kind, n.Value = "bool", strconv.FormatBool(t)
	case nil:
		n.Kind, n.Value = "null", "null"
	}
	return n, nil
}

// quote returns s as a JSON string, with <, > and & left as they are: the
// template escapes them, and \u003c would be unreadable.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
