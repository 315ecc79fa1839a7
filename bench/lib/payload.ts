/**
 * The one response body of the proxy benchmark: a realistic ~1 KB API object (nested objects, arrays, strings with
 * non-ASCII, ints, floats, booleans, null), served verbatim by the bench backend. Keys are deliberately not in
 * sorted order, so a gateway that sorts keys really has to re-encode the document.
 */
export const PAYLOAD = {
  id: 48213,
  type: 'order',
  status: 'shipped',
  created_at: '2024-03-18T09:41:27.120Z',
  customer: {
    id: 9912,
    name: 'Ana García',
    email: 'ana.garcia@example.com',
    vip: true,
    score: 0.875,
    address: { street: 'Calle Mayor 12, 3º B', city: 'Madrid', zip: '28013', country: 'ES', lat: 40.41678, lng: -3.70379 },
  },
  items: [
    { sku: 'KB-1042', title: 'Mechanical keyboard', qty: 1, price: 89.9, discount: null, tags: ['peripherals', 'usb-c'] },
    { sku: 'MS-220', title: 'Wireless mouse', qty: 2, price: 24.5, discount: 0.15, tags: ['peripherals'] },
    { sku: 'CB-7', title: 'USB-C cable 2m', qty: 3, price: 7.99, discount: null, tags: [] },
  ],
  totals: { subtotal: 163.38, tax: 34.31, shipping: 0, grand_total: 197.69, currency: 'EUR' },
  shipping: {
    carrier: 'DHL',
    tracking: 'JD014600006281234567',
    estimated_days: 3,
    insured: false,
    events: [
      { at: '2024-03-18T15:02:11Z', place: 'Madrid', note: 'Picked up' },
      { at: '2024-03-19T07:45:00Z', place: 'Zaragoza', note: 'In transit' },
    ],
  },
  notes: 'Leave at the door if nobody answers',
  gift: false,
  coupon: null,
  links: { self: '/orders/48213', customer: '/customers/9912', invoice: '/orders/48213/invoice.pdf' },
};

/** Encoded once: the backend must cost the same for every target, so it never re-serialises. */
export const PAYLOAD_TEXT = JSON.stringify(PAYLOAD);
