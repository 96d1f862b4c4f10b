// Amounts of money for people: "$1.23", "€0.0074" (small amounts keep four decimals).

/** Hours in an average month, for a price per hour's monthly figure. */
export const HOURS_PER_MONTH = 730;

export function formatCost(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en", {
      style: "currency",
      currency,
      maximumFractionDigits: amount < 1 ? 4 : 2,
    }).format(amount);
  } catch {
    return `${amount} ${currency}`; // not an ISO 4217 code
  }
}

/** `€0.0074/h`. */
export function formatHourly(amount: number, currency: string): string {
  return `${formatCost(amount, currency)}/h`;
}
