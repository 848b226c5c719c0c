/**
 * File names folded so that any two that a case-insensitive file system
 * (exFAT, NTFS, APFS, HFS+) takes for one file compare equal: composed
 * (NFC: Apple's file systems also ignore the normalization form), to lower
 * case, then to upper case. Lower first, so that letters with more than one
 * lower form meet (σ, ς and Σ all give Σ; K and the Kelvin sign give K);
 * upper last, as exFAT's and NTFS's up-case tables compare. It folds more
 * than any one file system does (ß meets SS), which only ever makes two
 * names share what one name would have: an order of writes, a lock.
 *
 * @module
 */

/** `name`, folded for comparison (see above). */
export function foldCase(name: string): string {
  return name.normalize("NFC").toLowerCase().toUpperCase().normalize("NFC");
}
