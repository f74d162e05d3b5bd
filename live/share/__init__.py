"""Distribution (分销): rules, signed share links, visits, attribution, commission."""
