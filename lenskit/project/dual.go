package project

// TopBottom returns the view's top K and bottom K entries under the same
// options (Bottom is ignored): what a catalogue records for every view.
// Each result equals the corresponding Top call.
func (v *HeadView) TopBottom(opt PairOptions) (top, bottom *PairTop, err error) {
	opt.Bottom = false
	if top, err = v.Top(opt); err != nil {
		return nil, nil, err
	}
	opt.Bottom = true
	if bottom, err = v.Top(opt); err != nil {
		return nil, nil, err
	}
	return top, bottom, nil
}
