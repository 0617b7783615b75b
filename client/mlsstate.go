//go:build parley_mls && !parley_mls_mem

package client

import "github.com/parleyhq/parley/mls"

func importGroup(state []byte) (*mls.Group, error) { return mls.Import(state) }
func exportGroup(g *mls.Group) ([]byte, error)     { return g.Export() }
