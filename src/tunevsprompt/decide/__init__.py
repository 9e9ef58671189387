"""From measurements to a decision: prices, costs, constraint checks, the recommendation."""
