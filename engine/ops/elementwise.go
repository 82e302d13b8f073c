package ops

// PLACEHOLDER: the elementwise/softmax/sum helper replaces this file.
func elementwiseCases() []Case { return nil }
func softmaxCases() []Case     { return nil }
func sumCases() []Case         { return nil }
