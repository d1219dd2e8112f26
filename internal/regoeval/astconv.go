package regoeval

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// toAST converts facts structs straight to Rego values, following
// encoding/json's rules (json tags, omitempty, "-", RFC 3339 times), so a
// control sees exactly the shape of a saved facts file. It replaces a JSON
// encode + decode round trip that cost more than judging a member.
func toAST(v any) (ast.Value, error) {
	var c converter
	t, err := c.term(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return t.Value, nil
}

// converter hands out terms from slabs, and shares OPA's interned terms
// for booleans and small integers: a 10,000-member fleet is a few million
// terms, and one allocation each would dominate the conversion's cost. Terms
// are never modified after conversion (OPA does not write its input), so
// sharing them is safe.
type converter struct {
	slab  []ast.Term
	items [][2]*ast.Term // key/value pairs of the objects being built, innermost last
}

// object makes an object of the pairs from base on and drops them: one
// block for all its entries (ast.NewObject), where inserting one by one
// cost an allocation per field.
func (c *converter) object(base int) ast.Object {
	obj := ast.NewObject(c.items[base:]...)
	clear(c.items[base:])
	c.items = c.items[:base]
	return obj
}

func (c *converter) newTerm(v ast.Value) *ast.Term {
	if len(c.slab) == 0 {
		c.slab = make([]ast.Term, 256)
	}
	t := &c.slab[0]
	c.slab = c.slab[1:]
	t.Value = v
	return t
}

func (c *converter) intTerm(i int64) *ast.Term {
	if i >= math.MinInt && i <= math.MaxInt && ast.HasInternedIntNumberTerm(int(i)) {
		return ast.InternedTerm(int(i))
	}
	return c.newTerm(ast.Number(strconv.FormatInt(i, 10)))
}

func (c *converter) term(v reflect.Value) (*ast.Term, error) {
	switch v.Kind() {
	case reflect.Bool:
		return ast.InternedTerm(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return c.intTerm(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := v.Uint(); u <= math.MaxInt64 {
			return c.intTerm(int64(u)), nil
		}
	}
	x, err := c.valueOf(v)
	if err != nil {
		return nil, err
	}
	return c.newTerm(x), nil
}

var timeType = reflect.TypeFor[time.Time]()

func (c *converter) valueOf(v reflect.Value) (ast.Value, error) {
	switch v.Kind() {
	case reflect.Invalid:
		return ast.Null{}, nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		return c.valueOf(v.Elem())
	}
	if v.Type() == timeType {
		return ast.String(v.Interface().(time.Time).Format(time.RFC3339Nano)), nil
	}
	switch v.Kind() {
	case reflect.Bool:
		return ast.Boolean(v.Bool()), nil
	case reflect.String:
		return ast.String(v.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return ast.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64)), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return ast.Null{}, nil
		}
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			x, err := c.term(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i] = x
		}
		return ast.NewArray(terms...), nil
	case reflect.Map:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", v.Type().Key())
		}
		obj := ast.NewObjectWithCapacity(v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := c.term(it.Value())
			if err != nil {
				return nil, err
			}
			obj.Insert(c.newTerm(ast.String(it.Key().String())), x)
		}
		return obj, nil
	case reflect.Struct:
		return c.structObject(v)
	}
	// Anything else: let encoding/json decide, then convert.
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return ast.ValueFromReader(strings.NewReader(string(b)))
}

// structObject converts the fields of struct v into one object, by
// encoding/json's rules (tags, omitempty).
func (c *converter) structObject(v reflect.Value) (ast.Object, error) {
	base := len(c.items)
	for _, f := range structFields(v.Type()) {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmptyValue(fv) {
			continue
		}
		x, err := c.term(fv)
		if err != nil {
			c.items = c.items[:base]
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		c.items = append(c.items, [2]*ast.Term{f.key, x})
	}
	return c.object(base), nil
}

type field struct {
	index     int
	name      string
	key       *ast.Term
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> []field

func structFields(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{index: i, name: name, key: ast.StringTerm(name), omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	fieldCache.Store(t, fs)
	return fs
}

// isEmptyValue is encoding/json's omitempty rule (structs are never empty).
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
