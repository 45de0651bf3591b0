/**
 * Segment messages written from the documented examples of Segment's Spec: the common fields of "Spec: Common Fields"
 * (segmentio/segment-docs, src/connections/spec/common.md) around the properties of the examples in "Spec: V2
 * Ecommerce Events" (src/connections/spec/ecommerce/v2.md). Tests change one field at a time from these.
 */

/** The common fields of the spec's raw JSON example (trimmed of context the mapping never reads). */
export function envelope(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    anonymousId: '507f191e810c19729de860ea',
    context: {
      device: {
        id: 'B5372DB0-C21E-11E4-8DFC-AA07A5B093DB',
        manufacturer: 'Apple',
        model: 'iPhone7,2',
        type: 'ios',
      },
      ip: '8.8.8.8',
      library: {name: 'analytics.js', version: '2.11.1'},
      locale: 'en-US',
      location: {city: 'San Francisco', country: 'United States'},
      page: {
        path: '/academy/',
        referrer: '',
        search: '',
        title: 'Analytics Academy',
        url: 'https://segment.com/academy/',
      },
      timezone: 'Europe/Amsterdam',
      userAgent:
        'Mozilla/5.0 (iPhone; CPU iPhone OS 9_1 like Mac OS X) AppleWebKit/601.1.46 (KHTML, like Gecko) Version/9.0 Mobile/13B143 Safari/601.1',
    },
    integrations: {All: true, Mixpanel: false, Salesforce: false},
    messageId: '022bb90c-bbac-11e4-8dfc-aa07a5b093db',
    receivedAt: '2015-12-10T04:08:31.909Z',
    sentAt: '2015-12-10T04:08:31.581Z',
    timestamp: '2015-12-10T04:08:31.905Z',
    type: 'track',
    userId: '97980cfea0067',
    version: 2,
    ...fields,
  }
}

export function track(event: string, properties: unknown, fields: Record<string, unknown> = {}) {
  return envelope({type: 'track', event, properties, ...fields})
}

/** The spec's two-line cart: Monopoly 19 x 1 and Uno 3 x 2. */
export const SPEC_PRODUCTS = [
  {
    product_id: '507f1f77bcf86cd799439011',
    sku: '45790-32',
    name: 'Monopoly: 3rd Edition',
    price: 19,
    quantity: 1,
    category: 'Games',
    url: 'https://www.example.com/product/path',
    image_url: 'https://www.example.com/product/path.jpg',
  },
  {
    product_id: '505bd76785ebb509fc183733',
    sku: '46493-32',
    name: 'Uno Card Game',
    price: 3,
    quantity: 2,
    category: 'Games',
  },
]

const MONOPOLY = {
  product_id: '507f1f77bcf86cd799439011',
  sku: 'G-32',
  category: 'Games',
  name: 'Monopoly: 3rd Edition',
  brand: 'Hasbro',
  variant: '200 pieces',
  price: 18.99,
  quantity: 1,
  coupon: 'MAYDEALS',
  position: 3,
  url: 'https://www.example.com/product/path',
  image_url: 'https://www.example.com/product/path.jpg',
}

/** The properties of each mapped event's example in the spec. */
export const SPEC_PROPERTIES = {
  'Product Viewed': {...MONOPOLY, currency: 'usd', value: 18.99},
  'Product Added': {cart_id: 'skdjsidjsdkdj29j', ...MONOPOLY},
  'Product Removed': {cart_id: 'ksjdj92dj29dj92d2j', ...MONOPOLY},
  'Checkout Started': {
    order_id: '50314b8e9bcf000000000000',
    affiliation: 'Google Store',
    value: 30,
    revenue: 25.0,
    shipping: 3,
    tax: 2,
    discount: 2.5,
    coupon: 'hasbros',
    currency: 'USD',
    products: SPEC_PRODUCTS,
  },
  'Order Completed': {
    checkout_id: 'fksdjfsdjfisjf9sdfjsd9f',
    order_id: '50314b8e9bcf000000000000',
    affiliation: 'Google Store',
    total: 27.5,
    subtotal: 22.5,
    revenue: 25.0,
    shipping: 3,
    tax: 2,
    discount: 2.5,
    coupon: 'hasbros',
    currency: 'USD',
    products: SPEC_PRODUCTS,
  },
  'Order Refunded': {order_id: '50314b8e9bcf000000000000', total: 30, currency: 'USD', products: SPEC_PRODUCTS},
  'Products Searched': {query: 'blue roses'},
} as const

/** A page call as analytics.js sends it: properties are the page's path, referrer, search, title and url. */
export function page(fields: Record<string, unknown> = {}) {
  return envelope({
    type: 'page',
    name: 'Analytics Academy',
    properties: {
      path: '/academy/',
      referrer: '',
      search: '',
      title: 'Analytics Academy',
      url: 'https://segment.com/academy/',
    },
    ...fields,
  })
}
